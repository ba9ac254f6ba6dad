// Package api is smsq's producer HTTP API: what a backend that is not
// written in Go uses to send messages, read their status and run
// campaigns. It validates with the same code as the Go producer and the
// enqueue command (tasks.Rules, campaign.Store).
//
//	POST /v1/messages                   one message, or {"messages": [...]}
//	GET  /v1/messages/{id}              a message's record and history
//	POST /v1/campaigns                  create (JSON, or multipart with a CSV)
//	GET  /v1/campaigns/{id}             counts and outlook
//	POST /v1/campaigns/{id}/pause       (also resume, cancel)
//
// Every /v1 request needs an API key: "Authorization: Bearer <key>" or
// "X-API-Key: <key>". What a key creates is its own: another ordinary key
// gets 404 for it, as for an id that does not exist, and 409 when it
// sends a message with its id. Records made without a key (the CLI, Go
// producers) are seen by admin keys only; admin keys see everything.
// Errors are JSON: {"error": "...", "fields":
// [{"field", "reason"}]}, with "index" on the fields of a batch item.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/tasks"
)

// Producer validates, records and queues messages; *tasks.Client is one.
type Producer interface {
	Send(ctx context.Context, r tasks.SendRequest) (tasks.Accepted, error)
	Status(ctx context.Context, id string) (ledger.Record, error)
	Rules() tasks.Rules
}

// Campaigns stores and controls campaigns; *campaign.Store is one.
type Campaigns interface {
	Create(ctx context.Context, d campaign.Definition, r io.Reader, o campaign.CreateOptions) (campaign.Report, error)
	Get(ctx context.Context, id string) (*campaign.Campaign, error)
	Pause(ctx context.Context, id string) (*campaign.Campaign, error)
	Resume(ctx context.Context, id string) (*campaign.Campaign, error)
	Cancel(ctx context.Context, id string) (*campaign.Campaign, error)
}

// Key is one producer's credential.
type Key struct {
	// Name identifies the producer in logs and owns what the key creates
	// (recorded on its messages and campaigns). Required, unique.
	Name string
	// Key is the secret it sends.
	Key string
	// CallbackURL is put on the producer's messages that name none, so
	// their status events reach it. Default "": none.
	CallbackURL string
	// Admin lets the key read and control every message and campaign,
	// whoever created it. Default false: only the key's own.
	Admin bool
}

// sees reports whether k may see a record owned by producer ("": made
// without an API key).
func (k Key) sees(producer string) bool {
	return k.Admin || (producer != "" && producer == k.Name)
}

// Options configure the API.
type Options struct {
	// Producer queues messages. Required.
	Producer Producer
	// Keys are the accepted credentials. Default none: every /v1 request
	// is refused with 401.
	Keys []Key
	// Campaigns serves the /v1/campaigns routes. Default nil: they answer
	// 501.
	Campaigns Campaigns
	// CampaignOwners records which key created each campaign. Required
	// with Campaigns (without it the campaign routes answer 501, since no
	// key could be kept from another's campaigns).
	CampaignOwners CampaignOwners
	// CampaignOptions gives the import options for a campaign on a
	// provider (block size, region, suppression list). Default nil: the
	// zero options restricted to the producer's providers.
	CampaignOptions func(provider string) campaign.CreateOptions
	// MaxBodyBytes caps a request body (413 above). Default 1 MiB.
	MaxBodyBytes int64
	// MaxCampaignBytes caps a POST /v1/campaigns body. Default 64 MiB.
	MaxCampaignBytes int64
	// MaxBatch caps the messages of one POST /v1/messages. Default 1000.
	MaxBatch int
	// BatchConcurrency is how many messages of a batch are queued at once.
	// Default 8.
	BatchConcurrency int
	// Now is the clock (campaign start dates). Default time.Now.
	Now func() time.Time
	// Log gets one line per request: method, route, status, key name,
	// duration. Never a body, never a phone number.
	Log zerolog.Logger
}

type server struct {
	o    Options
	keys []hashedKey
	mux  *http.ServeMux
}

type hashedKey struct {
	Key
	sum [sha256.Size]byte
}

// New returns the API handler.
func New(o Options) http.Handler {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxCampaignBytes <= 0 {
		o.MaxCampaignBytes = 64 << 20
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	if o.BatchConcurrency <= 0 {
		o.BatchConcurrency = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &server{o: o, mux: http.NewServeMux()}
	for _, k := range o.Keys {
		s.keys = append(s.keys, hashedKey{Key: k, sum: sha256.Sum256([]byte(k.Key))})
	}
	s.mux.HandleFunc("POST /v1/messages", s.postMessages)
	s.mux.HandleFunc("GET /v1/messages/{id}", s.getMessage)
	s.mux.HandleFunc("POST /v1/campaigns", s.postCampaign)
	s.mux.HandleFunc("GET /v1/campaigns/{id}", s.getCampaign)
	s.mux.HandleFunc("POST /v1/campaigns/{id}/{action}", s.campaignAction)
	return s
}

// keyCtx carries the authenticated key.
type keyCtx struct{}

func keyOf(ctx context.Context) Key {
	k, _ := ctx.Value(keyCtx{}).(Key)
	return k
}

// recorder remembers the status for the access log.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	keyName := ""
	route := "unknown"
	defer func() {
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		s.o.Log.Info().Str("method", r.Method).Str("route", route).Int("status", code).
			Str("api_key", keyName).Dur("duration", time.Since(start)).Msg("api request")
	}()
	if r.URL.Path == "/healthz" && r.Method == http.MethodGet {
		route = "/healthz"
		writeJSON(rec, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	k, ok := s.authenticate(r)
	if !ok {
		rec.Header().Set("WWW-Authenticate", `Bearer realm="smsq"`)
		writeError(rec, http.StatusUnauthorized, "missing or unknown API key: send Authorization: Bearer <key> or X-API-Key: <key>")
		return
	}
	keyName = k.Name
	_, pattern := s.mux.Handler(r)
	if pattern == "" {
		s.noRoute(rec, r)
		return
	}
	route = pattern
	// The mux serves it again (not h) so that it fills in the path values.
	s.mux.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), keyCtx{}, k)))
}

// authenticate finds the request's key. Every configured key is compared
// (in constant time, on SHA-256 sums so lengths do not show) whatever
// matches, so timing says nothing about which key is close.
func (s *server) authenticate(r *http.Request) (Key, bool) {
	given := r.Header.Get("X-API-Key")
	if a := r.Header.Get("Authorization"); given == "" && len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		given = strings.TrimSpace(a[7:])
	}
	if given == "" {
		return Key{}, false
	}
	sum := sha256.Sum256([]byte(given))
	var found Key
	ok := 0
	for _, k := range s.keys {
		if subtle.ConstantTimeCompare(sum[:], k.sum[:]) == 1 {
			found, ok = k.Key, 1
		}
	}
	return found, ok == 1
}

// noRoute answers 405 when the path exists for another method, else 404.
func (s *server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here (allowed: "+strings.Join(allow, ", ")+")")
		return
	}
	writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
}

// FieldReason is one field-level problem. Index is set on the problems
// of a batch item.
type FieldReason struct {
	Index  *int   `json:"index,omitempty"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ErrorBody is every error answer.
type ErrorBody struct {
	Error  string        `json:"error"`
	Fields []FieldReason `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string, fields ...FieldReason) {
	writeJSON(w, code, ErrorBody{Error: msg, Fields: fields})
}

// statusError is an error with the answer it deserves.
type statusError struct {
	code   int
	msg    string
	fields []FieldReason
}

func (e *statusError) Error() string { return e.msg }

func fail(code int, msg string, fields ...FieldReason) *statusError {
	return &statusError{code: code, msg: msg, fields: fields}
}

func (e *statusError) write(w http.ResponseWriter) { writeError(w, e.code, e.msg, e.fields...) }
