package proof

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsq/smsq/internal/harness"
)

// fleet is the worker and scheduler processes of a run. Each process's
// label reaches its settings (env), so the sandbox attributes every
// provider call to the process that made it.
type fleet struct {
	*harness.Fleet
	r *run

	mu     sync.Mutex // guards events: watchers add to them
	events []string
	// terms and kills count the SIGTERM restarts and SIGKILLs made.
	terms, kills int
}

func newFleet(r *run, ins *asynq.Inspector, env func(label string) []string) *fleet {
	return &fleet{Fleet: harness.NewFleet(r.Workspace, ins, env), r: r}
}

func (fl *fleet) event(format string, args ...any) {
	line := fmt.Sprintf("%6.1fs  ", time.Since(fl.r.Start).Seconds()) + fmt.Sprintf(format, args...)
	fl.mu.Lock()
	fl.events = append(fl.events, line)
	fl.mu.Unlock()
	fl.r.Logf(format, args...)
}

// restart stops slot's process with sig (SIGTERM: graceful, SIGKILL: a
// crash), waits pause, and starts a replacement.
func (fl *fleet) restart(ctx context.Context, slot int, sig syscall.Signal, pause time.Duration) error {
	p, label := fl.Worker(slot)
	t0 := time.Now()
	switch sig {
	case syscall.SIGKILL:
		p.Kill()
		fl.kills++
		fl.event("SIGKILL %s (pid %d)", label, p.Pid())
	default:
		graceful := p.Stop(sig, 30*time.Second)
		fl.terms++
		how := "exited on its own"
		if !graceful {
			how = "did not exit within 30s and was killed"
		}
		fl.event("SIGTERM %s (pid %d): %s after %s", label, p.Pid(), how, secs(time.Since(t0)))
	}
	if err := harness.Sleep(ctx, pause); err != nil {
		return err
	}
	t1 := time.Now()
	np, err := fl.StartWorker(ctx, slot)
	if err != nil {
		return err
	}
	_, label = fl.Worker(slot)
	fl.event("started %s (pid %d): registered after %s", label, np.Pid(), secs(time.Since(t1)))
	return nil
}

// eventLines returns the events so far.
func (fl *fleet) eventLines() []string {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return append([]string(nil), fl.events...)
}

// current is the label of slot's running process ("" for no such slot).
func (fl *fleet) current(slot int) string {
	_, label := fl.Worker(slot)
	return label
}
