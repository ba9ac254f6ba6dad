package harness

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"time"

	"github.com/smsq/smsq/sandbox/hub"
)

// Sandbox is the provider sandbox hub served on a free loopback port,
// possibly behind a run's own handler (one that observes or delays the
// fakes' answers).
type Sandbox struct {
	// Hub holds the five fakes.
	Hub *hub.Hub
	// Root is the base URL the processes are given ("http://127.0.0.1:port");
	// hub.BaseURL(Root, provider) is one fake's. Set by Serve.
	Root string

	srv *http.Server
}

// NewSandbox builds the hub with o; Serve starts serving it.
func NewSandbox(o hub.Options) *Sandbox { return &Sandbox{Hub: hub.New(o)} }

// Serve listens on a free loopback port and serves h there (nil: the hub
// itself) until Close. Close the sandbox also when Serve fails.
func (s *Sandbox) Serve(h http.Handler) error {
	if h == nil {
		h = s.Hub
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.Root = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// Close stops serving, cutting requests still held after two seconds,
// and closes the hub.
func (s *Sandbox) Close() {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
		_ = s.srv.Close()
	}
	s.Hub.Close()
}

// Answer is a response kept in memory instead of sent, so that a handler
// wrapping a fake can read it, hold it back a while, then send it on with
// Release. The zero value is ready to use.
type Answer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

// Header is the kept response's header.
func (a *Answer) Header() http.Header {
	if a.header == nil {
		a.header = http.Header{}
	}
	return a.header
}

// Write keeps p as part of the body.
func (a *Answer) Write(p []byte) (int, error) { return a.body.Write(p) }

// WriteHeader keeps the first status code written.
func (a *Answer) WriteHeader(code int) {
	if a.code == 0 {
		a.code = code
	}
}

// Status is the kept status code (200 when none was written).
func (a *Answer) Status() int {
	if a.code == 0 {
		return http.StatusOK
	}
	return a.code
}

// Body is the kept body.
func (a *Answer) Body() []byte { return a.body.Bytes() }

// Release sends the kept response to w.
func (a *Answer) Release(w http.ResponseWriter) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.WriteHeader(a.Status())
	_, _ = w.Write(a.body.Bytes())
}

// Digits keeps only the ASCII digits of s: a phone number as the fakes'
// counts and a run's own records can both be keyed by it.
func Digits(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}
