// Package sakari is a fake of the Sakari SMS API (api.sakari.io, v1) for
// tests and the sandbox: OAuth2 client-credentials login issuing HS256 JWTs,
// bulk send to contacts, message fetch and listing with a queued → sent →
// delivered progression, account balance, and message-status webhooks posted
// from a background goroutine.
//
// Error codes Sakari documents (CONT-001, CONT-010, ACCT-006, ACCT-008,
// MSG-007, MSG-019) are used with their documented meaning; AUTH-00x and
// REQ-00x are the sandbox's own, as Sakari publishes none for those cases.
package sakari

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/smsq/smsq/sandbox"
)

// Defaults accepted by a Server built with zero Options.
const (
	DefaultClientID     = "6f1c2a9e-3b7d-4e8a-9c15-0d2e4f6a8b31"
	DefaultClientSecret = "c4e8a2f6-1b9d-4c3e-8f70-5a2b6d9e1c47"
	DefaultAccountID    = "5f8d0c2b9e1a4c7d3b6e2f10"
	DefaultTokenTTL     = time.Hour
	DefaultBalance      = 100.0
	DefaultDeliverAfter = 2 * time.Second
	DefaultMaxLength    = 1600
	// Price is what one message costs, taken from the balance.
	Price = 0.05
	// SenderNumber is the account's sending number shown on messages.
	SenderNumber = "+15550100199"
)

// Options configure a Server. The zero value is a working account.
type Options struct {
	// ClientID and ClientSecret are the credentials /oauth2/token accepts.
	// Default: DefaultClientID, DefaultClientSecret.
	ClientID     string
	ClientSecret string
	// AccountID is the only account that exists. Default: DefaultAccountID.
	AccountID string
	// TokenTTL is the life of an issued token (its JWT exp). Default: 1h.
	TokenTTL time.Duration
	// MaxContacts caps contacts per send call (400 above it). Default (0):
	// no cap, as Sakari documents none.
	MaxContacts int
	// Balance is the starting credit; each message costs Price. Default (0):
	// 100.
	Balance float64
	// DeliverAfter is how long a message takes to reach its final status;
	// it shows "sent" from half that time. Default (0): 2s; negative: final
	// at once.
	DeliverAfter time.Duration
	// FailNumbers (E.164) end in FailStatus instead of "delivered".
	FailNumbers []string
	// FailStatus is "undelivered" (error MSG-019, the default) or "error"
	// (error MSG-033).
	FailStatus string
	// OptedOut (E.164) numbers are refused as opted out (CONT-010).
	OptedOut []string
	// MaxLength is the longest template in characters (MSG-007 above it).
	// Default (0): 1600.
	MaxLength int
	// Now is the clock for tokens and message status. Default: time.Now.
	// Webhooks are timed on the wall clock.
	Now func() time.Time
	// HookClient posts webhook events. Default: a client of the Server's
	// own, with a 5s timeout, whose connections Close releases.
	HookClient *http.Client
	// HookAttempts is how many times an event is posted before it is
	// dropped (non-2xx or no answer). Default (0): 3.
	HookAttempts int
}

func (o Options) withDefaults() Options {
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.AccountID == "" {
		o.AccountID = DefaultAccountID
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.Balance == 0 {
		o.Balance = DefaultBalance
	}
	switch {
	case o.DeliverAfter == 0:
		o.DeliverAfter = DefaultDeliverAfter
	case o.DeliverAfter < 0:
		o.DeliverAfter = 0
	}
	if o.FailStatus != "error" {
		o.FailStatus = "undelivered"
	}
	if o.MaxLength <= 0 {
		o.MaxLength = DefaultMaxLength
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HookAttempts <= 0 {
		o.HookAttempts = 3
	}
	return o
}

// Server is the fake. It is safe for concurrent use; Close stops webhook
// delivery.
type Server struct {
	o      Options
	key    []byte
	faults *sandbox.Injector
	rec    *sandbox.Recorder
	hooks  *dispatcher
	fail   map[string]bool
	optout map[string]bool

	mu       sync.Mutex
	gen      int // tokens of an older generation are expired
	balance  float64
	msgs     map[string]*message
	order    []*message
	contacts map[string]string // number → contact id
	convs    map[string]string // number → conversation id
	subs     []subscription
}

var _ sandbox.Fake = (*Server)(nil)

// New returns a Server.
func New(o Options) *Server {
	o = o.withDefaults()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := &Server{
		o:        o,
		key:      key,
		faults:   sandbox.NewInjector(),
		rec:      sandbox.NewRecorder(),
		fail:     numberSet(o.FailNumbers),
		optout:   numberSet(o.OptedOut),
		balance:  o.Balance,
		msgs:     map[string]*message{},
		contacts: map[string]string{},
		convs:    map[string]string{},
	}
	hc, owned := o.HookClient, false
	if hc == nil {
		hc, owned = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}, true
	}
	s.hooks = newDispatcher(hc, owned, o.HookAttempts, s.event)
	return s
}

func numberSet(ns []string) map[string]bool {
	m := make(map[string]bool, len(ns))
	for _, n := range ns {
		m[n] = true
	}
	return m
}

// Name implements sandbox.Fake.
func (s *Server) Name() string { return "sakari" }

// Faults implements sandbox.Fake.
func (s *Server) Faults() *sandbox.Injector { return s.faults }

// Recorder implements sandbox.Fake.
func (s *Server) Recorder() *sandbox.Recorder { return s.rec }

// ExpireTokens implements sandbox.Fake: every token issued so far is
// refused from now on.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	s.gen++
	s.mu.Unlock()
}

// Close stops webhook delivery and waits for it to finish.
func (s *Server) Close() { s.hooks.close() }

// Balance returns the remaining credit.
func (s *Server) Balance() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.balance
}

// ServeHTTP implements http.Handler, serving Sakari's paths from the root.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.rec.Capture(r)
	// The escaped path keeps a webhook URL (%2F…) in one segment.
	path := r.URL.EscapedPath()
	if path == "/oauth2/token" {
		s.token(w, r)
		return
	}
	if s.faults.Intercept(w, r) {
		return
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) < 3 || segs[0] != "v1" || segs[1] != "accounts" {
		fail(w, http.StatusNotFound, "REQ-004", "Not found")
		return
	}
	if reason := s.authorize(r); reason != "" {
		fail(w, http.StatusUnauthorized, "AUTH-001", reason)
		return
	}
	if acct, err := url.PathUnescape(segs[2]); err != nil || acct != s.o.AccountID {
		fail(w, http.StatusNotFound, "ACCT-008", "Invalid account id")
		return
	}
	if !acceptsJSON(w, r) {
		return
	}
	rest := segs[3:]
	switch {
	case len(rest) == 0:
		if allow(w, r, http.MethodGet) {
			s.account(w)
		}
	case rest[0] == "messages" && len(rest) == 1:
		switch r.Method {
		case http.MethodPost:
			s.send(w, r)
		case http.MethodGet:
			s.listMessages(w, r)
		default:
			allow(w, r, http.MethodGet, http.MethodPost)
		}
	case rest[0] == "messages" && len(rest) == 2:
		if allow(w, r, http.MethodGet) {
			s.fetchMessage(w, rest[1])
		}
	case rest[0] == "webhooks" && len(rest) == 1:
		switch r.Method {
		case http.MethodPost:
			s.subscribe(w, r)
		case http.MethodGet:
			s.listHooks(w, r)
		default:
			allow(w, r, http.MethodGet, http.MethodPost)
		}
	case rest[0] == "webhooks" && len(rest) == 2:
		if allow(w, r, http.MethodDelete) {
			s.unsubscribe(w, rest[1])
		}
	default:
		fail(w, http.StatusNotFound, "REQ-004", "Not found")
	}
}

type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// token serves POST /oauth2/token (JSON client credentials).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost) || !jsonBody(w, r) {
		return
	}
	var req tokenRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "REQ-001", "Request body is not valid JSON")
		return
	}
	if req.GrantType != "client_credentials" {
		fail(w, http.StatusBadRequest, "AUTH-003", "grant_type must be client_credentials")
		return
	}
	if !same(req.ClientID, s.o.ClientID) || !same(req.ClientSecret, s.o.ClientSecret) {
		fail(w, http.StatusUnauthorized, "AUTH-002", "Invalid client credentials")
		return
	}
	now := s.o.Now()
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	claims := jwt.MapClaims{
		"iss":   "https://sandbox.sakari.local",
		"sub":   s.o.ClientID,
		"aud":   "https://api.sakari.io",
		"scope": "messages:send",
		"iat":   now.Unix(),
		"exp":   now.Add(s.o.TokenTTL).Unix(),
		"jti":   newID(now),
		"gen":   gen,
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.key)
	if err != nil {
		fail(w, http.StatusInternalServerError, "REQ-500", "Could not sign token")
		return
	}
	s.rec.TokenIssued()
	reply(w, http.StatusOK, map[string]string{"access_token": signed, "token_type": "Bearer"})
}

func same(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// authorize checks the bearer token and returns why it is refused, or "".
func (s *Server) authorize(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	// The official SDK sends "bearer": the scheme is case-insensitive.
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "Missing bearer token"
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithTimeFunc(s.o.Now),
		jwt.WithExpirationRequired())
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return "Token expired"
		}
		return "Invalid token"
	}
	gen, _ := claims["gen"].(float64)
	s.mu.Lock()
	cur := s.gen
	s.mu.Unlock()
	if int(gen) != cur {
		return "Token expired"
	}
	return ""
}

// allow answers 405 unless r uses one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	fail(w, http.StatusMethodNotAllowed, "REQ-003", "Method not allowed")
	return false
}

// jsonBody answers 415 unless the body is declared JSON.
func jsonBody(w http.ResponseWriter, r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		fail(w, http.StatusUnsupportedMediaType, "REQ-002", "Content-Type must be application/json")
		return false
	}
	return true
}

// acceptsJSON answers 406 when the client asks for something other than JSON.
func acceptsJSON(w http.ResponseWriter, r *http.Request) bool {
	a := r.Header.Get("Accept")
	if a == "" {
		return true
	}
	for _, part := range strings.Split(a, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "application/json" || mt == "application/*" || mt == "*/*") {
			return true
		}
	}
	fail(w, http.StatusNotAcceptable, "REQ-009", "Only application/json is served")
	return false
}

type errorBody struct {
	Success bool `json:"success"`
	Error   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// fail writes Sakari's error envelope.
func fail(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	reply(w, status, b)
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newID returns a 24-hex id shaped like a MongoDB ObjectId (time + random),
// as Sakari's ids are.
func newID(now time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(now.Unix()))
	_, _ = rand.Read(b[4:])
	return hex.EncodeToString(b[:])
}
