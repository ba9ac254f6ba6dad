// Package embedded starts the demo's stand-ins for outside services: an
// in-process Redis (miniredis) listening on a loopback port, so that the
// enqueue command in another terminal reaches it, and the provider sandbox.
// It is for trying smsq out with nothing installed, never for production or
// for the test suite of record (which uses a real redis-server).
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/smsq/smsq/sandbox/hub"
)

// Services are the running stand-ins.
type Services struct {
	Redis   *miniredis.Miniredis
	Sandbox *hub.Hub
	// SandboxURL is the sandbox root, e.g. http://127.0.0.1:7380.
	SandboxURL string

	http *http.Server
}

// Start runs miniredis on redisAddr and the sandbox on sandboxAddr.
func Start(redisAddr, sandboxAddr string) (*Services, error) {
	m := miniredis.NewMiniRedis()
	// asynq relies on expiring keys (leases, locks); miniredis only expires
	// them with ClockTTL.
	m.ClockTTL(true)
	if err := m.StartAddr(redisAddr); err != nil {
		return nil, fmt.Errorf("embedded redis on %s: %w (is another smsq worker running? set embedded.redis_addr)", redisAddr, err)
	}
	ln, err := net.Listen("tcp", sandboxAddr)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("embedded sandbox on %s: %w (set embedded.sandbox_addr)", sandboxAddr, err)
	}
	h := hub.New(hub.Options{KeepMessages: false})
	s := &Services{Redis: m, Sandbox: h, SandboxURL: "http://" + ln.Addr().String(),
		http: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Close()
		}
	}()
	return s, nil
}

// Close stops both services.
func (s *Services) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
	s.Sandbox.Close()
	s.Redis.Close()
}
