package proof

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/sandbox/hub"
)

// front serves the sandbox hub on loopback behind a thin observing layer:
//
//   - each worker process is configured with its own base path
//     (root/w/<label>/…), so every provider call is attributed to the
//     process that made it;
//   - every send call the fake accepts is recorded with its time and
//     destinations (the hub's recorder only counts per destination);
//   - optionally, answers to accepted Conectaline sends are held for a
//     while, as a provider with a slow round trip would, and the held calls
//     are published: the scale-out proof kills a worker whose call the
//     provider has accepted but whose answer it has not yet read.
type front struct {
	*harness.Sandbox
	hold time.Duration

	mu     sync.Mutex
	calls  []call
	held   map[int]call
	nextID int
}

// call is one send call the fake accepted.
type call struct {
	id       int
	provider string
	label    string    // the worker process ("" when unlabelled)
	at       time.Time // when the fake had accepted it
	to       []string  // destinations, digits only
	release  time.Time // when a held answer is released (zero: not held)
}

func startFront(o hub.Options, hold time.Duration) (*front, error) {
	f := &front{Sandbox: harness.NewSandbox(o), hold: hold, held: map[int]call{}}
	if err := f.Serve(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// rootFor is the sandbox root a worker process labelled label uses.
func (f *front) rootFor(label string) string {
	if label == "" {
		return f.Root
	}
	return f.Root + "/w/" + label
}

// sendCall names the provider of a send endpoint, "" for anything else
// (tokens, delivery pulls, balance).
func sendCall(path string) string {
	switch {
	case strings.HasPrefix(path, "/keccel/") && strings.HasSuffix(path, "/message.asp"):
		return "keccel"
	case strings.HasPrefix(path, "/conectaline/") &&
		(strings.HasSuffix(path, "/push/multiple") || strings.HasSuffix(path, "/push/simple")):
		return "conectaline"
	}
	return ""
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	label := ""
	if rest, ok := strings.CutPrefix(r.URL.Path, "/w/"); ok {
		var path string
		label, path, _ = strings.Cut(rest, "/")
		r.URL.Path, r.URL.RawPath = "/"+path, ""
	}
	provider := sendCall(r.URL.Path)
	if provider == "" {
		f.Hub.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// The caller went away mid-request: the fake never saw it.
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var a harness.Answer
	f.Hub.ServeHTTP(&a, r)
	if to, ok := accepted(provider, &a, r.Header.Get("Content-Type"), body); ok {
		c := f.record(provider, label, to)
		if provider == "conectaline" && f.hold > 0 {
			select {
			case <-time.After(f.hold):
			case <-r.Context().Done():
			}
			f.unhold(c.id)
		}
	}
	a.Release(w)
}

func (f *front) record(provider, label string, to []string) call {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	c := call{id: f.nextID, provider: provider, label: label, at: time.Now(), to: to}
	f.calls = append(f.calls, c)
	if provider == "conectaline" && f.hold > 0 {
		c.release = c.at.Add(f.hold)
		f.held[c.id] = c
	}
	return c
}

func (f *front) unhold(id int) {
	f.mu.Lock()
	delete(f.held, id)
	f.mu.Unlock()
}

// heldCall returns an accepted call whose answer is held for at least
// margin more, if any.
func (f *front) heldCall(margin time.Duration) (call, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for _, c := range f.held {
		if c.label != "" && c.release.Sub(now) >= margin {
			return c, true
		}
	}
	return call{}, false
}

// accepted returns the calls of provider, sorted by time.
func (f *front) accepted(provider string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.provider == provider {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// seenOf returns the times provider accepted destination d.
func (f *front) seenOf(provider, d string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Time
	for _, c := range f.calls {
		if c.provider != provider {
			continue
		}
		for _, to := range c.to {
			if to == d {
				out = append(out, c.at)
			}
		}
	}
	return out
}

// perDestination counts how many times each destination was accepted.
func perDestination(calls []call) map[string]int {
	out := map[string]int{}
	for _, c := range calls {
		for _, to := range c.to {
			out[to]++
		}
	}
	return out
}

// accepted reports whether the fake accepted the call, and for which
// destinations (digits only; refused numbers of a mixed call excluded).
func accepted(provider string, a *harness.Answer, contentType string, body []byte) ([]string, bool) {
	if a.Status() != http.StatusOK {
		return nil, false
	}
	switch provider {
	case "keccel":
		var ans struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(a.Body(), &ans) != nil || ans.Status != "SENT" {
			return nil, false
		}
		var req struct {
			To string `json:"to"`
		}
		if json.Unmarshal(body, &req) != nil || req.To == "" {
			req.To = formValues(contentType, body).Get("to")
		}
		return []string{harness.Digits(req.To)}, true
	case "conectaline":
		var ans struct {
			Data *struct {
				Rejected []string `json:"rejected"`
			} `json:"data"`
		}
		if json.Unmarshal(a.Body(), &ans) != nil || ans.Data == nil {
			return nil, false
		}
		refused := map[string]bool{}
		for _, n := range ans.Data.Rejected {
			refused[harness.Digits(n)] = true
		}
		form := formValues(contentType, body)
		var nums []string
		if m := form.Get("messages"); m != "" {
			var list []struct {
				Number json.RawMessage `json:"number"`
			}
			_ = json.Unmarshal([]byte(m), &list)
			for _, e := range list {
				nums = append(nums, harness.Digits(strings.Trim(string(e.Number), `"`)))
			}
		} else {
			for _, n := range strings.Split(form.Get("numbers"), ",") {
				nums = append(nums, harness.Digits(n))
			}
		}
		out := nums[:0]
		for _, n := range nums {
			if n != "" && !refused[n] {
				out = append(out, n)
			}
		}
		return out, true
	}
	return nil, false
}

// formValues decodes a urlencoded or multipart form body.
func formValues(contentType string, body []byte) url.Values {
	mt, params, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "multipart/form-data":
		form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(int64(len(body)) + 1<<20)
		if err != nil {
			return url.Values{}
		}
		defer func() { _ = form.RemoveAll() }()
		return url.Values(form.Value)
	default:
		v, _ := url.ParseQuery(string(body))
		return v
	}
}

// lateness is how late after its booked slot a call may reach the
// provider. The limiter books slots at exactly the rate, but a task whose
// slot is more than throttle max_sleep away is re-scheduled to it, and
// asynq keeps schedules in whole seconds (truncated) and moves due tasks
// every 500 ms (worker DelayedTaskCheckInterval): such a task can come
// back after its slot and then claims it at once (throttle claim_window).
// A stalled process or Redis adds to that. Late calls then go together
// with calls on time, so a 1 s window can hold more than the rate while
// the sustained rate holds. The sustained check allows every call this
// much delay; the 1 s figures are reported as measured.
const lateness = time.Second

// sustainedWindow is the window the sustained-rate check counts over.
const sustainedWindow = 10 * time.Second

// rateFigures are the observed rates of one provider's accepted calls.
type rateFigures struct {
	calls, units int
	maxPerSecond int           // most units in one whole wall-clock second
	maxSecond    int           // most units in any 1 s window
	maxSecondAt  time.Time     // where that window starts
	maxSustained int           // most units in any sustainedWindow
	maxCallUnits int           // the largest call
	mean         float64       // units per second, first call to last
	meanBound    float64       // the most mean allows with lateness
	minGap       time.Duration // shortest time between consecutive calls
	minGapNeeded time.Duration // what the limit asks after the call before it
}

// sustainedBound is the most units any sustainedWindow may hold at
// perSecond when calls may arrive up to lateness after their booking: the
// bookings of the window plus lateness, and the call that opens it.
func sustainedBound(perSecond, maxCall int) int {
	return int(float64(perSecond)*(sustainedWindow+lateness).Seconds()) + maxCall
}

// maxIn is the most units of the sorted calls inside any window of length
// w, and where that window starts.
func maxIn(calls []call, units func(call) int, w time.Duration) (int, time.Time) {
	best, lo, in := 0, 0, 0
	var at time.Time
	for _, c := range calls {
		in += units(c)
		for c.at.Sub(calls[lo].at) >= w {
			in -= units(calls[lo])
			lo++
		}
		if in > best {
			best, at = in, calls[lo].at
		}
	}
	return best, at
}

// rates measures calls (sorted by time); units is a call's cost in the
// limit's unit; perSecond is the configured limit.
func rates(calls []call, units func(call) int, perSecond float64) rateFigures {
	rf := rateFigures{calls: len(calls)}
	if len(calls) == 0 {
		return rf
	}
	bySecond := map[int64]int{}
	for i, c := range calls {
		u := units(c)
		rf.units += u
		rf.maxCallUnits = max(rf.maxCallUnits, u)
		bySecond[c.at.Unix()] += u
		if i > 0 {
			gap := c.at.Sub(calls[i-1].at)
			need := time.Duration(float64(units(calls[i-1])) / perSecond * float64(time.Second))
			if i == 1 || gap < rf.minGap {
				rf.minGap, rf.minGapNeeded = gap, need
			}
		}
	}
	for _, n := range bySecond {
		rf.maxPerSecond = max(rf.maxPerSecond, n)
	}
	rf.maxSecond, rf.maxSecondAt = maxIn(calls, units, time.Second)
	rf.maxSustained, _ = maxIn(calls, units, sustainedWindow)
	if span := calls[len(calls)-1].at.Sub(calls[0].at); span > 0 {
		// The last call's units belong to the period after the span.
		done := float64(rf.units - units(calls[len(calls)-1]))
		rf.mean = done / span.Seconds()
		rf.meanBound = perSecond * (span + lateness).Seconds() / span.Seconds()
	}
	return rf
}

// meanOK reports whether the mean rate stays within the limit, lateness
// allowed.
func (rf rateFigures) meanOK() bool { return rf.meanBound == 0 || rf.mean <= rf.meanBound }
