package proof

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// proc is one child process with its log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startProc starts bin with args and env (nil: the parent's), its output
// in dir/<name>.log (appended, so a restarted process keeps one log).
func startProc(dir, name, bin string, args, env []string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace for the process to exit, then
// kills it. It reports whether the process exited on its own.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) bool {
	if p.exited() {
		return true
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return false
	}
}

// tail is the end of the process's log, for error messages.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// logLines calls fn with every line of the log.
func (p *proc) logLines(fn func(line []byte)) {
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

func withoutSMSQ(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "SMSQ_") {
			out = append(out, kv)
		}
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// redisProc is a private redis-server (or redis-sentinel) on loopback.
type redisProc struct {
	*proc
	Addr string
}

// redisConfig is what a redis-server of the proofs runs with.
type redisConfig struct {
	name      string
	aof       bool
	replicaOf string // host:port of the master; "" for a master
}

// startRedis starts a redis-server on a free loopback port and waits
// until it answers PING. A port taken between probe and bind is retried.
func startRedis(ctx context.Context, dir string, rc redisConfig) (*redisProc, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	data := filepath.Join(dir, rc.name)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no",
			"--daemonize", "no", "--dir", data, "--save", "", "--loglevel", "notice"}
		if rc.aof {
			args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
		} else {
			args = append(args, "--appendonly", "no")
		}
		if rc.replicaOf != "" {
			host, p, _ := net.SplitHostPort(rc.replicaOf)
			args = append(args, "--replicaof", host, p)
		}
		p, err := startProc(dir, rc.name, bin, args, nil)
		if err != nil {
			return nil, err
		}
		rp := &redisProc{proc: p, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		if err := rp.waitPing(ctx, 5*time.Second); err != nil {
			rp.stop(syscall.SIGKILL, time.Second)
			last = err
			continue
		}
		return rp, nil
	}
	return nil, fmt.Errorf("redis-server %s did not start: %w", rc.name, last)
}

func (rp *redisProc) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: rp.Addr, MaxRetries: -1, DialTimeout: time.Second})
}

func (rp *redisProc) waitPing(ctx context.Context, within time.Duration) error {
	c := rp.client()
	defer c.Close()
	var last error
	err := waitFor(ctx, within, 20*time.Millisecond, "redis "+rp.name+" PING", func() bool {
		if rp.exited() {
			last = errors.New("exited: " + rp.tail(500))
			return true
		}
		last = c.Ping(ctx).Err()
		return last == nil
	})
	if err == nil {
		err = last
	}
	return err
}

// startSentinel starts a redis-sentinel on a free loopback port watching
// the master at masterAddr as masterName.
func startSentinel(ctx context.Context, dir, name, masterName, masterAddr string, quorum int, downAfter, failoverTimeout time.Duration) (*redisProc, error) {
	bin, err := exec.LookPath("redis-sentinel")
	if err != nil {
		return nil, ErrNoSentinel
	}
	data := filepath.Join(dir, name)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	host, mport, _ := net.SplitHostPort(masterAddr)
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		// Sentinel rewrites its config file as it learns: it must be its own.
		conf := filepath.Join(data, "sentinel.conf")
		text := strings.Join([]string{
			"port " + strconv.Itoa(port),
			"bind 127.0.0.1",
			"protected-mode no",
			"daemonize no",
			"dir " + data,
			fmt.Sprintf("sentinel monitor %s %s %s %d", masterName, host, mport, quorum),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", masterName, downAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s %d", masterName, failoverTimeout.Milliseconds()),
			fmt.Sprintf("sentinel parallel-syncs %s 1", masterName),
		}, "\n") + "\n"
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return nil, err
		}
		p, err := startProc(dir, name, bin, []string{conf}, nil)
		if err != nil {
			return nil, err
		}
		rp := &redisProc{proc: p, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		if err := rp.waitPing(ctx, 5*time.Second); err != nil {
			rp.stop(syscall.SIGKILL, time.Second)
			last = err
			continue
		}
		return rp, nil
	}
	return nil, fmt.Errorf("redis-sentinel %s did not start: %w", name, last)
}

func (rp *redisProc) version(ctx context.Context) string {
	c := rp.client()
	defer c.Close()
	return infoField(ctx, c, "server", "redis_version")
}

// infoField reads one field of INFO section.
func infoField(ctx context.Context, c *redis.Client, section, field string) string {
	s, err := c.Info(ctx, section).Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}
