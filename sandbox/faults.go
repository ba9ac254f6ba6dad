// Package sandbox holds fake provider servers that follow each provider's
// documented protocol strictly. Tests, the embedded demo and anyone who wants
// to point a worker somewhere safe use them. Each provider's fake lives in a
// sub-package (sandbox/keccel, …); this package holds what they share: fault
// injection, request recording and the Fake interface.
package sandbox

import (
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Faults are switched at run time. The zero value injects nothing. Faults
// apply to a fake's API calls, never to its token endpoints, so that tests
// can tell a failed send from a failed login.
type Faults struct {
	// Latency is added before every answer.
	Latency time.Duration `json:"latency,omitempty"`
	// ServerErrorRate is the fraction (0..1) of calls answered 503.
	ServerErrorRate float64 `json:"server_error_rate,omitempty"`
	// TooManyRate is the fraction of calls answered 429.
	TooManyRate float64 `json:"too_many_rate,omitempty"`
	// RetryAfter is the Retry-After header sent with injected 429s; empty
	// sends none.
	RetryAfter string `json:"retry_after,omitempty"`
	// ResetRate is the fraction of calls whose connection is reset without
	// an answer.
	ResetRate float64 `json:"reset_rate,omitempty"`
	// MalformedRate is the fraction of calls answered 200 with a truncated
	// JSON body.
	MalformedRate float64 `json:"malformed_rate,omitempty"`
	// RatePerSecond, when > 0, caps accepted calls per second; calls beyond
	// it get 429 (with RetryAfter when set). Used to test that a client
	// honours a provider's own limit.
	RatePerSecond float64 `json:"rate_per_second,omitempty"`
}

// Injector applies Faults. It is safe for concurrent use.
type Injector struct {
	mu     sync.Mutex
	f      Faults
	rnd    *rand.Rand
	window time.Time
	inWin  float64
	counts map[string]int
}

// NewInjector returns an Injector with no faults.
func NewInjector() *Injector {
	return &Injector{rnd: rand.New(rand.NewPCG(1, 2)), counts: map[string]int{}}
}

// Set replaces the faults.
func (i *Injector) Set(f Faults) {
	i.mu.Lock()
	i.f = f
	i.mu.Unlock()
}

// Get returns the current faults.
func (i *Injector) Get() Faults {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.f
}

// Injected returns how many faults of each kind ("5xx", "429", "reset",
// "malformed") were served.
func (i *Injector) Injected() map[string]int {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make(map[string]int, len(i.counts))
	for k, v := range i.counts {
		out[k] = v
	}
	return out
}

func (i *Injector) hit(rate float64) bool {
	return rate > 0 && (rate >= 1 || i.rnd.Float64() < rate)
}

// Intercept applies the faults to one call. It returns true when it has
// answered (or killed) the call and the fake must not handle it.
func (i *Injector) Intercept(w http.ResponseWriter, r *http.Request) bool {
	i.mu.Lock()
	f := i.f
	kind := ""
	switch {
	case i.hit(f.ResetRate):
		kind = "reset"
	case i.hit(f.ServerErrorRate):
		kind = "5xx"
	case i.hit(f.TooManyRate):
		kind = "429"
	case i.hit(f.MalformedRate):
		kind = "malformed"
	case f.RatePerSecond > 0:
		now := time.Now()
		if now.Sub(i.window) >= time.Second {
			i.window, i.inWin = now, 0
		}
		if i.inWin >= f.RatePerSecond {
			kind = "429"
		} else {
			i.inWin++
		}
	}
	if kind != "" {
		i.counts[kind]++
	}
	i.mu.Unlock()

	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			return true
		}
	}
	switch kind {
	case "reset":
		Reset(w)
	case "5xx":
		http.Error(w, "service unavailable (injected)", http.StatusServiceUnavailable)
	case "429":
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"message":"too many requests (injected)"}`))
	case "malformed":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"SENT","data":{"mess`))
	default:
		return false
	}
	return true
}

// Reset closes the client connection with a TCP RST and no answer.
func Reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
