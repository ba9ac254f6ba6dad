package harness

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
	"time"

	"github.com/redis/go-redis/v9"
)

// Errors matched with errors.Is.
var (
	// ErrNoRedis: no redis-server binary on PATH.
	ErrNoRedis = errors.New("redis-server not found on PATH: install it (Debian: apt-get install -y redis-server)")
	// ErrNoSentinel: no redis-sentinel binary on PATH.
	ErrNoSentinel = errors.New("redis-sentinel not found on PATH: install it (Debian: apt-get install -y redis-sentinel)")
)

// RedisOptions say how StartRedis runs a redis-server. RDB snapshots are
// always off, so what survives a crash is exactly the append-only file.
type RedisOptions struct {
	// Name names the server's data directory and log file in the run's
	// directory. Default "redis".
	Name string `koanf:"name"`
	// AppendFsync turns the append-only file on with this fsync policy:
	// "always" (fsync before every acknowledgement) or "everysec".
	// Default "": no AOF.
	AppendFsync string `koanf:"append_fsync"`
	// ReplicaOf is the host:port of a master to replicate. Default "": the
	// server is a master.
	ReplicaOf string `koanf:"replica_of"`
	// StartTimeout bounds the wait for the first PING answer, which comes
	// only once the AOF is fully loaded. Default 5s.
	StartTimeout time.Duration `koanf:"start_timeout"`
}

// Redis is a private redis-server or redis-sentinel on a loopback port.
// Its methods act on its current process, which Relaunch replaces; they
// must not run at the same time as Relaunch.
type Redis struct {
	// Addr is host:port on loopback; it outlives a Relaunch.
	Addr string

	p              *Proc
	dir, name, bin string
	args           []string
	timeout        time.Duration
}

// Name is the server's name (RedisOptions.Name, SentinelOptions.Name).
func (r *Redis) Name() string { return r.name }

// Proc is the server's current process.
func (r *Redis) Proc() *Proc { return r.p }

// Kill ends the current process with SIGKILL (a crash) and waits for it.
func (r *Redis) Kill() { r.p.Kill() }

// Stop stops the current process as Proc.Stop does.
func (r *Redis) Stop(sig os.Signal, grace time.Duration) bool { return r.p.Stop(sig, grace) }

// StartRedis starts a redis-server on a free loopback port, its data in
// dir/<name> and its log in dir/<name>.log, and waits until it answers
// PING. A port taken between probe and bind is retried with another.
func StartRedis(ctx context.Context, dir string, o RedisOptions) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	if o.Name == "" {
		o.Name = "redis"
	}
	data := filepath.Join(dir, o.Name)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	return startOnFreePort(ctx, dir, o.Name, bin, o.StartTimeout, func(port int) ([]string, error) {
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no",
			"--daemonize", "no", "--dir", data, "--save", "", "--loglevel", "notice"}
		if o.AppendFsync != "" {
			args = append(args, "--appendonly", "yes", "--appendfsync", o.AppendFsync)
		} else {
			args = append(args, "--appendonly", "no")
		}
		if o.ReplicaOf != "" {
			host, p, err := net.SplitHostPort(o.ReplicaOf)
			if err != nil {
				return nil, fmt.Errorf("redis %s: replica_of: %w", o.Name, err)
			}
			args = append(args, "--replicaof", host, p)
		}
		return args, nil
	})
}

// SentinelOptions say how StartSentinel runs a redis-sentinel.
type SentinelOptions struct {
	// Name names its data directory and log file. Default "sentinel".
	Name string `koanf:"name"`
	// MasterName is the name the master is monitored under. Required.
	MasterName string `koanf:"master_name"`
	// MasterAddr is the master's host:port. Required.
	MasterAddr string `koanf:"master_addr"`
	// Quorum is how many Sentinels must agree the master is down.
	// Default 1.
	Quorum int `koanf:"quorum"`
	// DownAfter is how long the master may not answer before it is
	// thought down. Default 30s (Redis's own).
	DownAfter time.Duration `koanf:"down_after"`
	// FailoverTimeout bounds a failover. Default 3m (Redis's own).
	FailoverTimeout time.Duration `koanf:"failover_timeout"`
}

// Validate names the first bad option.
func (o SentinelOptions) Validate() error {
	switch {
	case o.MasterName == "":
		return errors.New("harness: sentinel.master_name: required")
	case o.MasterAddr == "":
		return errors.New("harness: sentinel.master_addr: required")
	case o.Quorum < 0 || o.DownAfter < 0 || o.FailoverTimeout < 0:
		return errors.New("harness: sentinel.quorum, down_after, failover_timeout: must not be negative")
	}
	if _, _, err := net.SplitHostPort(o.MasterAddr); err != nil {
		return fmt.Errorf("harness: sentinel.master_addr: %w", err)
	}
	return nil
}

// StartSentinel starts a redis-sentinel on a free loopback port watching
// the master o names, and waits until it answers PING.
func StartSentinel(ctx context.Context, dir string, o SentinelOptions) (*Redis, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	bin, err := exec.LookPath("redis-sentinel")
	if err != nil {
		return nil, ErrNoSentinel
	}
	if o.Name == "" {
		o.Name = "sentinel"
	}
	if o.Quorum == 0 {
		o.Quorum = 1
	}
	if o.DownAfter == 0 {
		o.DownAfter = 30 * time.Second
	}
	if o.FailoverTimeout == 0 {
		o.FailoverTimeout = 3 * time.Minute
	}
	data := filepath.Join(dir, o.Name)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	host, mport, _ := net.SplitHostPort(o.MasterAddr)
	return startOnFreePort(ctx, dir, o.Name, bin, 0, func(port int) ([]string, error) {
		// Sentinel rewrites its configuration file as it learns the
		// topology: each Sentinel needs a file of its own.
		conf := filepath.Join(data, "sentinel.conf")
		m := o.MasterName
		text := strings.Join([]string{
			"port " + strconv.Itoa(port),
			"bind 127.0.0.1",
			"protected-mode no",
			"daemonize no",
			"dir " + data,
			fmt.Sprintf("sentinel monitor %s %s %s %d", m, host, mport, o.Quorum),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", m, o.DownAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s %d", m, o.FailoverTimeout.Milliseconds()),
			fmt.Sprintf("sentinel parallel-syncs %s 1", m),
		}, "\n") + "\n"
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return nil, err
		}
		return []string{conf}, nil
	})
}

// startOnFreePort launches bin with the arguments args gives for a free
// port, up to five ports, until one start answers PING.
func startOnFreePort(ctx context.Context, dir, name, bin string, timeout time.Duration, args func(port int) ([]string, error)) (*Redis, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r := &Redis{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, name: name, bin: bin, timeout: timeout}
		if r.args, err = args(port); err != nil {
			return nil, err
		}
		if last = r.Relaunch(ctx); last == nil {
			return r, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("%s %s did not start: %w", filepath.Base(bin), name, last)
}

// Relaunch starts the server again on its port and data directory (after
// a crash or Kill: a redis-server reloads its AOF) and waits until it
// answers PING. A start that does not answer in time is killed.
func (r *Redis) Relaunch(ctx context.Context) error {
	p, err := StartProc(r.dir, r.name, r.bin, r.args, nil)
	if err != nil {
		return err
	}
	r.p = p
	c := r.Client()
	defer c.Close()
	var last error
	err = p.WaitReady(ctx, r.timeout, func() bool {
		last = c.Ping(ctx).Err()
		return last == nil
	})
	if err == nil {
		return nil
	}
	p.Kill()
	if last != nil && ctx.Err() == nil {
		return fmt.Errorf("%w (last PING: %v)", err, last)
	}
	return err
}

// Client is a connection for the driver's own reads: no retries, so a
// server that is down shows at once. The caller closes it.
func (r *Redis) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: time.Second})
}

// Version is the server's redis_version ("?" when it cannot be read).
func (r *Redis) Version(ctx context.Context) string {
	c := r.Client()
	defer c.Close()
	if v := InfoField(ctx, c, "server", "redis_version"); v != "" {
		return v
	}
	return "?"
}

// InfoField reads one field of an INFO section ("" when unreadable).
func InfoField(ctx context.Context, c redis.UniversalClient, section, field string) string {
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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
