package sandbox

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Request is one HTTP call a fake received, as it arrived.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	At     time.Time
}

// Accepted is one message a fake accepted for sending.
type Accepted struct {
	// ID is the provider message id the fake returned ("" when the provider
	// returns none).
	ID   string
	To   string
	From string
	Text string
	At   time.Time
}

// Recorder keeps what a fake received and accepted. Requests are kept up to
// MaxRequests (0: all); accepted-message counts per destination are always
// kept in full, so a load test can check "exactly once" per recipient.
type Recorder struct {
	MaxRequests int

	mu       sync.Mutex
	reqs     []Request
	accepted []Accepted
	keepAll  bool
	perTo    map[string]int
	total    int
	calls    int
	tokens   int
}

// NewRecorder returns a recorder that keeps every request and message.
func NewRecorder() *Recorder { return &Recorder{perTo: map[string]int{}, keepAll: true} }

// KeepMessages says whether every accepted message is kept (true, the
// default) or only counted per destination (false: for long load runs).
func (rc *Recorder) KeepMessages(keep bool) {
	rc.mu.Lock()
	rc.keepAll = keep
	rc.mu.Unlock()
}

// Capture reads r's body (restoring it for the handler) and records the call.
func (rc *Recorder) Capture(r *http.Request) Request {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body, At: time.Now()}
	rc.mu.Lock()
	rc.calls++
	if rc.MaxRequests == 0 || len(rc.reqs) < rc.MaxRequests {
		rc.reqs = append(rc.reqs, req)
	}
	rc.mu.Unlock()
	return req
}

// TokenIssued counts one token the fake handed out.
func (rc *Recorder) TokenIssued() {
	rc.mu.Lock()
	rc.tokens++
	rc.mu.Unlock()
}

// Accept records accepted messages.
func (rc *Recorder) Accept(ms ...Accepted) {
	rc.mu.Lock()
	for _, m := range ms {
		rc.total++
		rc.perTo[m.To]++
		if rc.keepAll {
			rc.accepted = append(rc.accepted, m)
		}
	}
	rc.mu.Unlock()
}

// Requests returns the recorded calls.
func (rc *Recorder) Requests() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Request(nil), rc.reqs...)
}

// Calls is how many calls were received (all endpoints).
func (rc *Recorder) Calls() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.calls
}

// Accepted returns the accepted messages (when kept).
func (rc *Recorder) Accepted() []Accepted {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Accepted(nil), rc.accepted...)
}

// AcceptedCount is how many messages were accepted in all.
func (rc *Recorder) AcceptedCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.total
}

// PerDestination returns how many messages each destination was sent.
func (rc *Recorder) PerDestination() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.perTo))
	for k, v := range rc.perTo {
		out[k] = v
	}
	return out
}

// TokensIssued is how many tokens the fake handed out.
func (rc *Recorder) TokensIssued() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.tokens
}

// Clear forgets everything recorded.
func (rc *Recorder) Clear() {
	rc.mu.Lock()
	rc.reqs, rc.accepted, rc.perTo, rc.total, rc.calls, rc.tokens = nil, nil, map[string]int{}, 0, 0, 0
	rc.mu.Unlock()
}

// Fake is what every provider fake offers its tests and the control API.
type Fake interface {
	http.Handler
	// Name is the provider name ("keccel", …).
	Name() string
	// Faults is the fake's fault injector.
	Faults() *Injector
	// Recorder holds what the fake received and accepted.
	Recorder() *Recorder
	// ExpireTokens makes every token issued so far expired, so the next call
	// with one gets the provider's 401. A no-op for static-key providers.
	ExpireTokens()
}

// Unreachable is the sandbox-wide rule for a destination every fake refuses
// as an invalid recipient, each in its own provider's words: any number
// whose digits end in "666666". Tests and demos use it to exercise
// recipient errors with numbers that pass smsq's own validation.
func Unreachable(number string) bool {
	d := make([]byte, 0, len(number))
	for i := 0; i < len(number); i++ {
		if number[i] >= '0' && number[i] <= '9' {
			d = append(d, number[i])
		}
	}
	return len(d) >= 6 && string(d[len(d)-6:]) == "666666"
}
