package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Proc is one child process of a run, its output in a log file of its own.
type Proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	// expected is set before the run stops the process on purpose, so an
	// exit without it is a crash the run must report.
	expected atomic.Bool
}

// StartProc starts bin with args and env (nil: the parent's). Its output
// is appended to dir/<name>.log, so a process started again under the same
// name keeps one log. On Linux the child dies with the run.
func StartProc(dir, name, bin string, args, env []string) (*Proc, error) {
	path := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	orphanGuard(cmd)
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{name: name, cmd: cmd, log: path, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// Name is the name the process was started under.
func (p *Proc) Name() string { return p.name }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Log is the path of the process's log file.
func (p *Proc) Log() string { return p.log }

// Done is closed once the process has exited and its log is closed.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Expect marks the process's exit as intended; Stop and Kill call it
// before they signal. It reports whether the mark is new, so a supervisor
// that finds an exit nobody intended claims it exactly once.
func (p *Proc) Expect() bool { return p.expected.CompareAndSwap(false, true) }

// Expected reports whether the process's exit is intended.
func (p *Proc) Expected() bool { return p.expected.Load() }

// Kill ends the process with SIGKILL, as a crash or the OOM killer would,
// and waits until it is gone.
func (p *Proc) Kill() {
	p.Expect()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends sig and waits up to grace for the process to exit, then
// kills it. It reports whether the process exited without the kill.
func (p *Proc) Stop(sig os.Signal, grace time.Duration) bool {
	p.Expect()
	if p.Exited() {
		return true
	}
	_ = p.cmd.Process.Signal(sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		return false
	}
}

// Tail is the last n bytes of the log, for error messages.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.log)
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// LogContains reports whether the log holds s.
func (p *Proc) LogContains(s string) bool {
	b, _ := os.ReadFile(p.log)
	return bytes.Contains(b, []byte(s))
}

// LogLines calls fn with every line of the log (the slice is reused).
func (p *Proc) LogLines(fn func(line []byte)) {
	f, err := os.Open(p.log)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		fn(sc.Bytes())
	}
}

// WaitReady polls ready until it holds. A process that exits first fails
// the wait with the end of its log; so does one not ready within the
// given time.
func (p *Proc) WaitReady(ctx context.Context, within time.Duration, ready func() bool) error {
	exited := false
	err := WaitFor(ctx, within, 20*time.Millisecond, p.name+" ready", func() bool {
		if p.Exited() {
			exited = true
			return true
		}
		return ready()
	})
	if exited {
		return fmt.Errorf("%s exited at start: %s", p.name, p.Tail(1500))
	}
	return err
}

// Build compiles cmd/<name> for each name of the module at root (""
// finds it with `go env GOMOD`) into binDir, once per run, so that every
// process of the run runs the same code.
func Build(ctx context.Context, root, binDir string, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	if root == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		mod := strings.TrimSpace(string(out))
		if err != nil || mod == "" || mod == os.DevNull {
			return errors.New("cannot find the smsq module root: run from inside the repository or pass -root")
		}
		root = filepath.Dir(mod)
	}
	args := []string{"build", "-o", binDir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v: %s", strings.Join(names, " "), err, out)
	}
	return nil
}

// Sleep waits d, or less when ctx ends first (its error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitFor polls cond every step until it holds, timeout passes (an error
// naming what) or ctx ends (its error).
func WaitFor(ctx context.Context, timeout, step time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s", what, timeout)
		}
		if err := Sleep(ctx, step); err != nil {
			return err
		}
	}
	return nil
}
