package chaos

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/smsq/smsq/sandbox"
	"github.com/smsq/smsq/sandbox/hub"
)

// providerNames are the fakes the run sends through: the campaign's and
// the two of the single sends.
func providerNames() []string { return []string{"conectaline", "keccel", "sakari"} }

// front serves the sandbox hub on loopback. Answers to send calls are held
// for a while after the fake has handled them, as a provider's round trip
// would be: a worker killed in that time leaves a message the provider
// accepted but the worker never heard of — the case the "unknown" state
// exists for.
type front struct {
	hub             *hub.Hub
	srv             *http.Server
	root            string
	hold, batchHold time.Duration
}

func startFront(hold, batchHold time.Duration) (*front, error) {
	o := hub.Options{KeepMessages: false}
	// Credit for any run size: an exhausted balance would look like a
	// provider refusal, which is not what this run is about.
	o.Keccel.Balance = 1 << 30
	o.Sakari.Balance = 1 << 30
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &front{hub: hub.New(o), hold: hold, batchHold: batchHold, root: "http://" + ln.Addr().String()}
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

func (f *front) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = f.srv.Shutdown(ctx)
	_ = f.srv.Close()
	f.hub.Close()
}

// holdFor is how long the answer to r is held: the hold of its kind for
// send calls, nothing for anything else (tokens, status, balance).
func (f *front) holdFor(r *http.Request) time.Duration {
	if r.Method != http.MethodPost {
		return 0
	}
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/push/multiple"):
		return f.batchHold
	case strings.HasSuffix(p, "/message.asp"), strings.HasSuffix(p, "/messages"), strings.HasSuffix(p, "/push/simple"):
		return f.hold
	}
	return 0
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hold := f.holdFor(r)
	if hold <= 0 {
		f.hub.ServeHTTP(w, r)
		return
	}
	bw := &heldAnswer{header: http.Header{}}
	f.hub.ServeHTTP(bw, r)
	select {
	case <-time.After(hold):
	case <-r.Context().Done():
		return // the caller is gone (killed): nobody reads the answer
	}
	for k, v := range bw.header {
		w.Header()[k] = v
	}
	w.WriteHeader(bw.status())
	_, _ = w.Write(bw.body.Bytes())
}

// storm switches every fake of the run to faults (the zero value ends a
// storm).
func (f *front) storm(faults sandbox.Faults) {
	for _, n := range providerNames() {
		f.hub.Fake(n).Faults().Set(faults)
	}
}

// perDestination is how many messages the fake of provider accepted per
// destination, keyed by the number's digits.
func (f *front) perDestination(provider string) map[string]int {
	out := map[string]int{}
	for to, n := range f.hub.Fake(provider).Recorder().PerDestination() {
		out[digits(to)] += n
	}
	return out
}

// injected is how many faults of each kind provider's fake served.
func (f *front) injected(provider string) map[string]int {
	return f.hub.Fake(provider).Faults().Injected()
}

func digits(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// heldAnswer keeps a handler's answer until it is released.
type heldAnswer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (h *heldAnswer) Header() http.Header         { return h.header }
func (h *heldAnswer) Write(p []byte) (int, error) { return h.body.Write(p) }
func (h *heldAnswer) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}

func (h *heldAnswer) status() int {
	if h.code == 0 {
		return http.StatusOK
	}
	return h.code
}
