package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// proc is one child process, its output in a log file of its own.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	// meant is set before the run stops the process on purpose, so an
	// exit without it is a crash the report must show.
	meant atomic.Bool
}

// startProc starts bin with args and env (nil: the parent's). Output is
// appended to dir/<name>.log, so a restarted process keeps one log.
func startProc(dir, name, bin string, args, env []string) (*proc, error) {
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
	p := &proc{name: name, cmd: cmd, log: path, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would,
// and waits until it is gone.
func (p *proc) kill() {
	p.meant.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the process to stop (SIGTERM) and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	p.meant.Store(true)
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// tail is the last n bytes of the process's log, for error messages.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// build compiles cmd/<name> for each name into dir/bin, once per run, so
// every process of the run is the same code.
func build(ctx context.Context, root, dir string, names ...string) error {
	if root == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		mod := strings.TrimSpace(string(out))
		if err != nil || mod == "" || mod == os.DevNull {
			return errors.New("chaos: cannot find the smsq module: run inside the repository or set root")
		}
		root = filepath.Dir(mod)
	}
	args := []string{"build", "-o", filepath.Join(dir, "bin") + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("chaos: go build: %v: %s", err, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// redisServer is the run's private redis-server. It keeps its port and
// data directory across a restart, so clients reconnect to the same
// address and the server reloads its append-only file.
type redisServer struct {
	bin, dir string
	port     int
	addr     string
	p        *proc
	starts   int
}

// redisArgs: AOF on with appendfsync always, so that every write Redis
// acknowledged is on disk before the acknowledgement; no RDB snapshots,
// so what survives a crash is exactly the AOF.
func (r *redisServer) args() []string {
	return []string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--daemonize", "no", "--dir", r.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--loglevel", "notice"}
}

// startRedis starts a redis-server on a free loopback port.
func startRedis(ctx context.Context, dir string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	data := filepath.Join(dir, "redis")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r := &redisServer{bin: bin, dir: data, port: port, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		if last = r.launch(ctx); last == nil {
			return r, nil
		}
	}
	return nil, fmt.Errorf("chaos: redis-server did not start: %w", last)
}

// launch starts the server process and waits until it answers PING (not
// LOADING: the AOF is fully read).
func (r *redisServer) launch(ctx context.Context) error {
	p, err := startProc(filepath.Dir(r.dir), "redis", r.bin, r.args(), nil)
	if err != nil {
		return err
	}
	r.p = p
	r.starts++
	c := r.client()
	defer c.Close()
	var last error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("redis-server exited: %s", p.tail(600))
		}
		if last = c.Ping(ctx).Err(); last == nil {
			return nil
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	p.kill()
	return fmt.Errorf("redis-server: no PING answer within 30s: %w", last)
}

// client is a connection for the driver's own reads: no retries, so a
// down server shows at once.
func (r *redisServer) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1, DialTimeout: time.Second})
}

func (r *redisServer) version(ctx context.Context) string {
	c := r.client()
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "?"
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
