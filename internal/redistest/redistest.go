// Package redistest gives each test its own real Redis: a private
// redis-server process on a free loopback port, stopped when the test ends.
// With REDIS_ADDR set it uses that server instead, one DB per test, flushed.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Server is a Redis a test may use freely.
type Server struct {
	Addr string
	DB   int

	t    testing.TB
	cmd  *exec.Cmd
	dir  string
	args []string
}

var nextDB atomic.Int32

// Options tune a private server.
type Options struct {
	// AOF turns on appendonly persistence (for restart tests).
	AOF bool
}

// Start returns a Redis for t, failing t when none can be had.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith is Start with options; options only apply to private servers.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	if addr := os.Getenv("REDIS_ADDR"); addr != "" {
		db := int(nextDB.Add(1)) % 16
		s := &Server{Addr: addr, DB: db, t: t}
		c := s.Client()
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("redistest: REDIS_ADDR=%s: %v", addr, err)
		}
		return s
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server not found: install it (apt-get install -y redis-server) or set REDIS_ADDR")
	}
	s := &Server{t: t, dir: t.TempDir()}
	s.args = []string{"--bind", "127.0.0.1", "--save", "", "--dir", s.dir, "--daemonize", "no",
		"--protected-mode", "no", "--loglevel", "warning"}
	if o.AOF {
		s.args = append(s.args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		s.args = append(s.args, "--appendonly", "no")
	}
	s.start(bin, 0)
	t.Cleanup(s.stop)
	return s
}

func (s *Server) start(bin string, port int) {
	s.t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		p := port
		if p == 0 {
			p = freePort(s.t)
		}
		cmd := exec.Command(bin, append([]string{"--port", strconv.Itoa(p)}, s.args...)...)
		logf, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", attempt)))
		if err != nil {
			s.t.Fatalf("redistest: %v", err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			s.t.Fatalf("redistest: start redis-server: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		if err := waitReady(addr, 5*time.Second); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			lastErr = fmt.Errorf("%w (log: %s)", err, tail(logf.Name()))
			if port != 0 {
				break
			}
			continue
		}
		s.cmd, s.Addr = cmd, addr
		return
	}
	s.t.Fatalf("redistest: redis-server did not start: %v", lastErr)
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart stops the server (as a crash would: SIGKILL) and starts it again
// on the same port, with the same data directory.
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatalf("redistest: Restart needs a private server")
	}
	_, portStr, _ := net.SplitHostPort(s.Addr)
	port, _ := strconv.Atoi(portStr)
	bin := s.cmd.Path
	s.stop()
	s.start(bin, port)
}

// Client returns a go-redis client for the server, closed with the test.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DB: s.DB})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// AsynqOpt returns the asynq connection option for the server.
func (s *Server) AsynqOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: s.Addr, DB: s.DB}
}

// URL returns redis://addr/db.
func (s *Server) URL() string { return fmt.Sprintf("redis://%s/%d", s.Addr, s.DB) }

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitReady(addr string, max time.Duration) error {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s within %s", addr, max)
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 400 {
		b = b[len(b)-400:]
	}
	return strings.TrimSpace(string(b))
}
