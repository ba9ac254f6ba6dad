package chaos

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smsq/smsq/internal/harness"
)

// fleet is the run's worker processes and its scheduler process, with a
// record of the exits nobody asked for.
type fleet struct {
	*harness.Fleet
	redisDown *atomic.Bool

	mu         sync.Mutex
	unexpected []string // crashes nobody asked for, with the log's end
}

// kill SIGKILLs the process in slot and returns its label and pid.
func (fl *fleet) kill(slot int) (string, int) {
	p, label := fl.Worker(slot)
	p.Kill()
	return label, p.Pid()
}

// current is the label of slot's running process.
func (fl *fleet) current(slot int) string {
	_, label := fl.Worker(slot)
	return label
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
		for slot := 0; slot < fl.Slots(); slot++ {
			// Expect claims the exit, so it is recorded once.
			if p, label := fl.Worker(slot); p != nil && p.Exited() && p.Expect() {
				fl.record(fmt.Sprintf("worker %s (pid %d) exited by itself: %s", label, p.Pid(), p.Tail(400)))
				dead = append(dead, slot)
			}
		}
		restartSched := false
		for _, p := range fl.Schedulers() {
			if p.Exited() && p.Expect() {
				fl.record(fmt.Sprintf("scheduler (pid %d) exited by itself: %s", p.Pid(), p.Tail(400)))
				restartSched = true
			}
		}
		for _, slot := range dead {
			event("worker slot %d exited by itself; starting a replacement", slot)
			if _, err := fl.StartWorker(ctx, slot); err != nil {
				event("replacement for slot %d failed: %v", slot, err)
			}
		}
		if restartSched {
			event("scheduler exited by itself; starting a replacement")
			if _, err := fl.StartScheduler(ctx); err != nil {
				event("replacement scheduler failed: %v", err)
			}
		}
	}
}

func (fl *fleet) record(crash string) {
	fl.mu.Lock()
	fl.unexpected = append(fl.unexpected, crash)
	fl.mu.Unlock()
}

func (fl *fleet) crashes() []string {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return append([]string(nil), fl.unexpected...)
}
