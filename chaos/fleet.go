package chaos

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

// fleet is the worker processes and the scheduler process of a run.
// Worker slot i runs one process at a time; its generations are labelled
// w<i>g<n>.
type fleet struct {
	dir, binDir string
	env         []string
	ins         *asynq.Inspector
	redisDown   *atomic.Bool

	mu         sync.Mutex
	workers    []*proc
	gens       []int
	sched      *proc
	unexpected []string // crashes nobody asked for, with the log's end
}

func label(slot, gen int) string { return fmt.Sprintf("w%dg%d", slot, gen) }

// startWorker starts a new process in slot and waits until asynq lists
// it as a server.
func (fl *fleet) startWorker(ctx context.Context, slot int) (*proc, error) {
	fl.mu.Lock()
	for len(fl.workers) <= slot {
		fl.workers = append(fl.workers, nil)
		fl.gens = append(fl.gens, -1)
	}
	fl.gens[slot]++
	name := fmt.Sprintf("worker-%d", slot)
	p, err := startProc(fl.dir, name, fl.binDir+"/worker", nil, fl.env)
	if err == nil {
		fl.workers[slot] = p
	}
	fl.mu.Unlock()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return nil, fmt.Errorf("worker %s exited at start: %s", name, p.tail(1500))
		}
		if srvs, err := fl.ins.Servers(); err == nil {
			for _, s := range srvs {
				if s.PID == p.pid() {
					return p, nil
				}
			}
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("worker %s: not registered with asynq within 30s", name)
}

// startScheduler starts the scheduler process and waits until it says it
// runs.
func (fl *fleet) startScheduler(ctx context.Context) error {
	p, err := startProc(fl.dir, "scheduler", fl.binDir+"/scheduler", nil, fl.env)
	if err != nil {
		return err
	}
	fl.mu.Lock()
	fl.sched = p
	fl.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("scheduler exited at start: %s", p.tail(1500))
		}
		if b, _ := os.ReadFile(p.log); strings.Contains(string(b), "campaign scheduler started") {
			return nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("scheduler: not started within 30s")
}

// kill SIGKILLs the process in slot and returns its label and pid.
func (fl *fleet) kill(slot int) (string, int) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	p := fl.workers[slot]
	p.kill()
	return label(slot, fl.gens[slot]), p.pid()
}

// current is the label of slot's running process.
func (fl *fleet) current(slot int) string {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return label(slot, fl.gens[slot])
}

// supervise restarts any process that exits without being asked to, and
// records it: the processes must ride out a Redis restart by themselves,
// so such an exit is a finding. It runs until ctx ends.
func (fl *fleet) supervise(ctx context.Context, event func(string, ...any)) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if fl.redisDown.Load() {
			continue // a start now would fail its first PING
		}
		var dead []int
		restartSched := false
		fl.mu.Lock()
		for slot, p := range fl.workers {
			if p != nil && p.exited() && !p.meant.Load() {
				p.meant.Store(true)
				fl.unexpected = append(fl.unexpected, fmt.Sprintf("worker %s (pid %d) exited by itself: %s", label(slot, fl.gens[slot]), p.pid(), p.tail(400)))
				dead = append(dead, slot)
			}
		}
		if p := fl.sched; p != nil && p.exited() && !p.meant.Load() {
			p.meant.Store(true)
			fl.unexpected = append(fl.unexpected, fmt.Sprintf("scheduler (pid %d) exited by itself: %s", p.pid(), p.tail(400)))
			restartSched = true
		}
		fl.mu.Unlock()
		for _, slot := range dead {
			event("worker slot %d exited by itself; starting a replacement", slot)
			if _, err := fl.startWorker(ctx, slot); err != nil {
				event("replacement for slot %d failed: %v", slot, err)
			}
		}
		if restartSched {
			event("scheduler exited by itself; starting a replacement")
			if err := fl.startScheduler(ctx); err != nil {
				event("replacement scheduler failed: %v", err)
			}
		}
	}
}

// stopAll stops every process gracefully (SIGTERM, then SIGKILL after
// grace), all at once.
func (fl *fleet) stopAll(grace time.Duration) {
	fl.mu.Lock()
	ps := append([]*proc(nil), fl.workers...)
	ps = append(ps, fl.sched)
	fl.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(grace) }()
	}
	wg.Wait()
}

func (fl *fleet) crashes() []string {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return append([]string(nil), fl.unexpected...)
}
