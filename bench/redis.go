package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a private redis-server process: no persistence, loopback
// only, stopped by Close.
type redisServer struct {
	Addr string
	cmd  *exec.Cmd
	log  string
}

// ErrNoRedis is returned when no redis-server binary is on PATH.
var ErrNoRedis = errors.New("redis-server not found on PATH: install it (e.g. apt-get install -y redis-server)")

func startRedis(ctx context.Context, dir string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	var last error
	// A free port can be taken between probing and binding; try again.
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		logPath := filepath.Join(dir, fmt.Sprintf("redis-%d.log", port))
		logf, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--dir", dir, "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, fmt.Errorf("start redis-server: %w", err)
		}
		logf.Close()
		s := &redisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, log: logPath}
		if err := s.waitReady(ctx, 5*time.Second); err != nil {
			s.Close()
			last = err
			continue
		}
		return s, nil
	}
	return nil, fmt.Errorf("redis-server did not start: %w", last)
}

func (s *redisServer) waitReady(ctx context.Context, within time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	deadline := time.Now().Add(within)
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b, _ := os.ReadFile(s.log)
			return fmt.Errorf("%w (log: %s)", err, strings.TrimSpace(string(b)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close kills the server and waits for it.
func (s *redisServer) Close() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// redisVersion reads redis_version from INFO server.
func redisVersion(ctx context.Context, rdb redis.UniversalClient) string {
	return infoField(ctx, rdb, "server", "redis_version")
}

// commandsProcessed is total_commands_processed from INFO stats. Commands
// run inside Lua scripts count too, so a script is charged for every
// redis.call it makes.
func commandsProcessed(ctx context.Context, rdb redis.UniversalClient) int64 {
	n, _ := strconv.ParseInt(infoField(ctx, rdb, "stats", "total_commands_processed"), 10, 64)
	return n
}

func infoField(ctx context.Context, rdb redis.UniversalClient, section, field string) string {
	s, err := rdb.Info(ctx, section).Result()
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

// commandStats is calls per command from INFO commandstats ("get",
// "evalsha", "hset", …).
func commandStats(ctx context.Context, rdb redis.UniversalClient) map[string]int64 {
	out := map[string]int64{}
	s, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return out
	}
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				out[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return out
}

// topCommands renders the largest per-message command counts of the
// difference after − before.
func topCommands(before, after map[string]int64, messages, k int) string {
	type kv struct {
		name string
		n    int64
	}
	var d []kv
	for name, n := range after {
		if x := n - before[name]; x > 0 {
			d = append(d, kv{name, x})
		}
	}
	sort.Slice(d, func(i, j int) bool { return d[i].n > d[j].n })
	var parts []string
	for i := 0; i < len(d) && i < k; i++ {
		parts = append(parts, fmt.Sprintf("%s %.1f", strings.ToUpper(d[i].name), float64(d[i].n)/float64(messages)))
	}
	return strings.Join(parts, ", ")
}
