// Package hub serves all five provider fakes from one HTTP server, each
// under its own path (/keccel, /sakari, …), with a small control API to
// switch faults at run time:
//
//	GET  /_control                       every fake's faults and counters
//	GET  /_control/{provider}            one fake's faults and counters
//	PUT  /_control/{provider}/faults     JSON sandbox.Faults to apply
//	POST /_control/{provider}/expire-tokens
//	POST /_control/{provider}/clear      forget what was recorded
package hub

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/smsq/smsq/sandbox"
	"github.com/smsq/smsq/sandbox/conectaline"
	"github.com/smsq/smsq/sandbox/kaizala"
	"github.com/smsq/smsq/sandbox/kandy"
	"github.com/smsq/smsq/sandbox/keccel"
	"github.com/smsq/smsq/sandbox/sakari"
)

// Hub is the combined sandbox.
type Hub struct {
	Keccel      *keccel.Server
	Kaizala     *kaizala.Server
	Kandy       *kandy.Server
	Sakari      *sakari.Server
	Conectaline *conectaline.Server

	fakes map[string]sandbox.Fake
	mux   *http.ServeMux
}

// Options tune the fakes; zero values give each fake its defaults.
type Options struct {
	Keccel      keccel.Options
	Kaizala     kaizala.Options
	Kandy       kandy.Options
	Sakari      sakari.Options
	Conectaline conectaline.Options
	// KeepMessages keeps every accepted message in memory (tests). False
	// only counts them per destination, for long runs.
	KeepMessages bool
}

// New builds the hub.
func New(o Options) *Hub {
	h := &Hub{
		Keccel:      keccel.New(o.Keccel),
		Kaizala:     kaizala.New(o.Kaizala),
		Kandy:       kandy.New(o.Kandy),
		Sakari:      sakari.New(o.Sakari),
		Conectaline: conectaline.New(o.Conectaline),
		mux:         http.NewServeMux(),
	}
	h.fakes = map[string]sandbox.Fake{"keccel": h.Keccel, "kaizala": h.Kaizala, "kandy": h.Kandy,
		"sakari": h.Sakari, "conectaline": h.Conectaline}
	for name, f := range h.fakes {
		f.Recorder().KeepMessages(o.KeepMessages)
		if !o.KeepMessages {
			f.Recorder().MaxRequests = 1000
		}
		prefix := "/" + name
		inner := http.StripPrefix(prefix, f)
		h.mux.Handle(prefix+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Set("X-Forwarded-Prefix", prefix)
			inner.ServeHTTP(w, r)
		}))
	}
	h.mux.HandleFunc("GET /_control", h.all)
	h.mux.HandleFunc("GET /_control/{provider}", h.one)
	h.mux.HandleFunc("PUT /_control/{provider}/faults", h.setFaults)
	h.mux.HandleFunc("POST /_control/{provider}/expire-tokens", h.expire)
	h.mux.HandleFunc("POST /_control/{provider}/clear", h.clear)
	return h
}

// Fake returns the named fake, or nil.
func (h *Hub) Fake(name string) sandbox.Fake { return h.fakes[name] }

// Names lists the providers served.
func (h *Hub) Names() []string {
	out := make([]string, 0, len(h.fakes))
	for n := range h.fakes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// BaseURL returns the base URL a provider adapter should use when the hub
// is served at root (e.g. "http://127.0.0.1:7380").
func BaseURL(root, provider string) string {
	root = strings.TrimSuffix(root, "/")
	switch provider {
	case "keccel":
		return root + "/keccel" + keccel.BasePath
	case "kaizala":
		return root + "/kaizala/v1"
	case "kandy":
		return root + "/kandy" + kandy.Prefix
	case "sakari":
		return root + "/sakari"
	case "conectaline":
		return root + "/conectaline/v1"
	}
	return ""
}

// ServeHTTP implements http.Handler.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Close stops the fakes' background deliveries.
func (h *Hub) Close() {
	_ = h.Keccel.Close()
	h.Sakari.Close()
}

// Stats is what the control API reports for one fake.
type Stats struct {
	Faults       sandbox.Faults `json:"faults"`
	Calls        int            `json:"calls"`
	Accepted     int            `json:"accepted"`
	Destinations int            `json:"destinations"`
	TokensIssued int            `json:"tokens_issued"`
	Injected     map[string]int `json:"injected,omitempty"`
}

func statsOf(f sandbox.Fake) Stats {
	rc := f.Recorder()
	return Stats{Faults: f.Faults().Get(), Calls: rc.Calls(), Accepted: rc.AcceptedCount(),
		Destinations: len(rc.PerDestination()), TokensIssued: rc.TokensIssued(), Injected: f.Faults().Injected()}
}

func (h *Hub) all(w http.ResponseWriter, _ *http.Request) {
	out := map[string]Stats{}
	for n, f := range h.fakes {
		out[n] = statsOf(f)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Hub) lookup(w http.ResponseWriter, r *http.Request) sandbox.Fake {
	f := h.fakes[r.PathValue("provider")]
	if f == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such provider; have " + strings.Join(h.Names(), ", ")})
	}
	return f
}

func (h *Hub) one(w http.ResponseWriter, r *http.Request) {
	if f := h.lookup(w, r); f != nil {
		writeJSON(w, http.StatusOK, statsOf(f))
	}
}

func (h *Hub) setFaults(w http.ResponseWriter, r *http.Request) {
	f := h.lookup(w, r)
	if f == nil {
		return
	}
	var fl sandbox.Faults
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fl); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: " + err.Error()})
		return
	}
	f.Faults().Set(fl)
	writeJSON(w, http.StatusOK, statsOf(f))
}

func (h *Hub) expire(w http.ResponseWriter, r *http.Request) {
	if f := h.lookup(w, r); f != nil {
		f.ExpireTokens()
		writeJSON(w, http.StatusOK, statsOf(f))
	}
}

func (h *Hub) clear(w http.ResponseWriter, r *http.Request) {
	if f := h.lookup(w, r); f != nil {
		f.Recorder().Clear()
		writeJSON(w, http.StatusOK, statsOf(f))
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
