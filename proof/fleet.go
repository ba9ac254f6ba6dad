package proof

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

// fleet is the worker and scheduler processes of a run. Worker slot i runs
// one process at a time; each process gets the label w<i>g<generation>, so
// the sandbox attributes every provider call to the process that made it.
type fleet struct {
	r   *run
	env func(label string) []string
	ins *asynq.Inspector

	workers []*proc
	gens    []int
	scheds  []*proc

	mu     sync.Mutex // guards events: watchers add to them
	events []string
	// terms and kills count the SIGTERM restarts and SIGKILLs made.
	terms, kills int
}

func (fl *fleet) event(format string, args ...any) {
	line := fmt.Sprintf("%6.1fs  ", time.Since(fl.r.start).Seconds()) + fmt.Sprintf(format, args...)
	fl.mu.Lock()
	fl.events = append(fl.events, line)
	fl.mu.Unlock()
	fl.r.logf(format, args...)
}

func workerLabel(slot, gen int) string { return fmt.Sprintf("w%dg%d", slot, gen) }

// slotOf reads the slot out of a worker label.
func slotOf(label string) (int, bool) {
	s, ok := strings.CutPrefix(label, "w")
	if !ok {
		return 0, false
	}
	s, _, _ = strings.Cut(s, "g")
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func (fl *fleet) procEnv(label string) []string {
	return append(withoutSMSQ(os.Environ()), fl.env(label)...)
}

// startWorker starts a new process in slot and waits until asynq lists it
// as a server.
func (fl *fleet) startWorker(ctx context.Context, slot int) error {
	for len(fl.workers) <= slot {
		fl.workers = append(fl.workers, nil)
		fl.gens = append(fl.gens, -1)
	}
	fl.gens[slot]++
	label := workerLabel(slot, fl.gens[slot])
	p, err := startProc(fl.r.dir, fmt.Sprintf("worker-%d", slot), fl.r.bin("worker"), nil, fl.procEnv(label))
	if err != nil {
		return err
	}
	fl.workers[slot] = p
	pid := p.cmd.Process.Pid
	var exitErr error
	err = waitFor(ctx, 30*time.Second, 50*time.Millisecond, "worker "+label+" registered with asynq", func() bool {
		if p.exited() {
			exitErr = fmt.Errorf("worker %s exited at start: %s", label, p.tail(1500))
			return true
		}
		srvs, err := fl.ins.Servers()
		if err != nil {
			return false
		}
		for _, s := range srvs {
			if s.PID == pid {
				return true
			}
		}
		return false
	})
	if exitErr != nil {
		return exitErr
	}
	return err
}

// startScheduler starts one more scheduler process and waits until it
// logs that it runs.
func (fl *fleet) startScheduler(ctx context.Context) error {
	n := len(fl.scheds)
	p, err := startProc(fl.r.dir, fmt.Sprintf("scheduler-%d", n), fl.r.bin("scheduler"), nil, fl.procEnv(fmt.Sprintf("s%d", n)))
	if err != nil {
		return err
	}
	fl.scheds = append(fl.scheds, p)
	var exitErr error
	err = waitFor(ctx, 30*time.Second, 50*time.Millisecond, fmt.Sprintf("scheduler %d started", n), func() bool {
		if p.exited() {
			exitErr = fmt.Errorf("scheduler %d exited at start: %s", n, p.tail(1500))
			return true
		}
		b, _ := os.ReadFile(p.log)
		return strings.Contains(string(b), "campaign scheduler started")
	})
	if exitErr != nil {
		return exitErr
	}
	return err
}

// restart stops slot's process with sig (SIGTERM: graceful, SIGKILL: a
// crash), waits pause, and starts a replacement.
func (fl *fleet) restart(ctx context.Context, slot int, sig syscall.Signal, pause time.Duration) error {
	p := fl.workers[slot]
	label := workerLabel(slot, fl.gens[slot])
	t0 := time.Now()
	switch sig {
	case syscall.SIGKILL:
		p.stop(syscall.SIGKILL, 5*time.Second)
		fl.kills++
		fl.event("SIGKILL %s (pid %d)", label, p.cmd.Process.Pid)
	default:
		graceful := p.stop(sig, 30*time.Second)
		fl.terms++
		how := "exited on its own"
		if !graceful {
			how = "did not exit within 30s and was killed"
		}
		fl.event("SIGTERM %s (pid %d): %s after %s", label, p.cmd.Process.Pid, how, secs(time.Since(t0)))
	}
	if err := sleep(ctx, pause); err != nil {
		return err
	}
	t1 := time.Now()
	if err := fl.startWorker(ctx, slot); err != nil {
		return err
	}
	fl.event("started %s (pid %d): registered after %s", workerLabel(slot, fl.gens[slot]),
		fl.workers[slot].cmd.Process.Pid, secs(time.Since(t1)))
	return nil
}

// stopAll stops every process gracefully (killing those that hang).
func (fl *fleet) stopAll() {
	for _, p := range append(append([]*proc(nil), fl.workers...), fl.scheds...) {
		if p != nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range append(append([]*proc(nil), fl.workers...), fl.scheds...) {
		if p != nil {
			p.stop(syscall.SIGTERM, 20*time.Second)
		}
	}
}

// eventLines returns the events so far.
func (fl *fleet) eventLines() []string {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return append([]string(nil), fl.events...)
}

// all is every worker process log followed by every scheduler's.
func (fl *fleet) all() []*proc {
	var out []*proc
	for _, p := range fl.workers {
		if p != nil {
			out = append(out, p)
		}
	}
	return append(out, fl.scheds...)
}
