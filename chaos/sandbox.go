package chaos

import (
	"net/http"
	"strings"
	"time"

	"github.com/smsq/smsq/internal/harness"
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
	*harness.Sandbox
	hold, batchHold time.Duration
}

func startFront(hold, batchHold time.Duration) (*front, error) {
	o := hub.Options{KeepMessages: false}
	// Credit for any run size: an exhausted balance would look like a
	// provider refusal, which is not what this run is about.
	o.Keccel.Balance = 1 << 30
	o.Sakari.Balance = 1 << 30
	f := &front{Sandbox: harness.NewSandbox(o), hold: hold, batchHold: batchHold}
	if err := f.Serve(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
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
		f.Hub.ServeHTTP(w, r)
		return
	}
	var a harness.Answer
	f.Hub.ServeHTTP(&a, r)
	select {
	case <-time.After(hold):
	case <-r.Context().Done():
		return // the caller is gone (killed): nobody reads the answer
	}
	a.Release(w)
}

// storm switches every fake of the run to faults (the zero value ends a
// storm).
func (f *front) storm(faults sandbox.Faults) {
	for _, n := range providerNames() {
		f.Hub.Fake(n).Faults().Set(faults)
	}
}

// perDestination is how many messages the fake of provider accepted per
// destination, keyed by the number's digits.
func (f *front) perDestination(provider string) map[string]int {
	out := map[string]int{}
	for to, n := range f.Hub.Fake(provider).Recorder().PerDestination() {
		out[harness.Digits(to)] += n
	}
	return out
}

// injected is how many faults of each kind provider's fake served.
func (f *front) injected(provider string) map[string]int {
	return f.Hub.Fake(provider).Faults().Injected()
}
