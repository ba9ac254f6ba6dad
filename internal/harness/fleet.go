package harness

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
)

// SchedulerStarted is what a scheduler process logs once it runs.
const SchedulerStarted = "campaign scheduler started"

// Fleet is a run's worker and scheduler processes, built in a Workspace.
// Worker slot i runs one process at a time, whose generations are labelled
// w<i>g<n> (WorkerLabel); scheduler n is labelled s<n>. Every process gets
// the parent's environment without its SMSQ_* variables, plus the run's
// settings for its label, so a run can tell processes apart (a sandbox
// root of their own, say). A Fleet is safe for concurrent use.
type Fleet struct {
	ws  *Workspace
	ins *asynq.Inspector
	env func(label string) []string

	mu      sync.Mutex
	workers []*Proc
	gens    []int
	scheds  []*Proc
}

// NewFleet runs the workspace's bin/worker and bin/scheduler, with env
// giving each process's SMSQ_* settings; ins sees the workers register.
func NewFleet(ws *Workspace, ins *asynq.Inspector, env func(label string) []string) *Fleet {
	return &Fleet{ws: ws, ins: ins, env: env}
}

// WorkerLabel is the label of generation gen of worker slot.
func WorkerLabel(slot, gen int) string { return fmt.Sprintf("w%dg%d", slot, gen) }

// SlotOf reads the slot out of a worker label.
func SlotOf(label string) (int, bool) {
	s, ok := strings.CutPrefix(label, "w")
	if !ok {
		return 0, false
	}
	s, _, _ = strings.Cut(s, "g")
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func (fl *Fleet) environ(label string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SMSQ_") {
			out = append(out, kv)
		}
	}
	return append(out, fl.env(label)...)
}

// StartWorker starts the next generation of slot (its log: worker-<slot>)
// and waits until asynq lists it among its servers.
func (fl *Fleet) StartWorker(ctx context.Context, slot int) (*Proc, error) {
	fl.mu.Lock()
	for len(fl.workers) <= slot {
		fl.workers = append(fl.workers, nil)
		fl.gens = append(fl.gens, -1)
	}
	fl.gens[slot]++
	label := WorkerLabel(slot, fl.gens[slot])
	p, err := StartProc(fl.ws.Dir, fmt.Sprintf("worker-%d", slot), fl.ws.Bin("worker"), nil, fl.environ(label))
	if err == nil {
		fl.workers[slot] = p
	}
	fl.mu.Unlock()
	if err != nil {
		return nil, err
	}
	err = p.WaitReady(ctx, 30*time.Second, func() bool {
		srvs, err := fl.ins.Servers()
		if err != nil {
			return false
		}
		for _, s := range srvs {
			if s.PID == p.Pid() {
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", label, err)
	}
	return p, nil
}

// StartScheduler starts one more scheduler process (its log:
// scheduler-<n>) and waits until it logs that it runs.
func (fl *Fleet) StartScheduler(ctx context.Context) (*Proc, error) {
	fl.mu.Lock()
	n := len(fl.scheds)
	p, err := StartProc(fl.ws.Dir, fmt.Sprintf("scheduler-%d", n), fl.ws.Bin("scheduler"), nil, fl.environ(fmt.Sprintf("s%d", n)))
	if err == nil {
		fl.scheds = append(fl.scheds, p)
	}
	fl.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := p.WaitReady(ctx, 30*time.Second, func() bool { return p.LogContains(SchedulerStarted) }); err != nil {
		return nil, fmt.Errorf("scheduler %d: %w", n, err)
	}
	return p, nil
}

// Slots is how many worker slots have been started.
func (fl *Fleet) Slots() int {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return len(fl.workers)
}

// Worker is slot's current process and its label (nil and "" for a slot
// never started).
func (fl *Fleet) Worker(slot int) (*Proc, string) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if slot < 0 || slot >= len(fl.workers) || fl.workers[slot] == nil {
		return nil, ""
	}
	return fl.workers[slot], WorkerLabel(slot, fl.gens[slot])
}

// Schedulers is every scheduler process started, in order.
func (fl *Fleet) Schedulers() []*Proc {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return append([]*Proc(nil), fl.scheds...)
}

// All is every current worker process, by slot, then every scheduler's.
func (fl *Fleet) All() []*Proc {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	var out []*Proc
	for _, p := range fl.workers {
		if p != nil {
			out = append(out, p)
		}
	}
	return append(out, fl.scheds...)
}

// StopAll stops every process at once: SIGTERM, then SIGKILL for any
// still running after grace.
func (fl *Fleet) StopAll(grace time.Duration) {
	var wg sync.WaitGroup
	for _, p := range fl.All() {
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop(syscall.SIGTERM, grace) }()
	}
	wg.Wait()
}
