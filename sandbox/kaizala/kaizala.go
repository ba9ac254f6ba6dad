// Package kaizala is a fake of the Microsoft Kaizala connector API: the
// token service (GET /v1/accessToken) and a group's messages endpoint
// (POST /v1/groups/{groupId}/messages), served from one host as if both
// were at its root. The endpointUrl it hands out points back at itself.
//
// Error answers use Kaizala's envelope {message, errorCode,
// errorCategoryKey}. Only the InvalidToken/AuthException pair is
// documented; the other codes are this fake's inventions: GroupNotFound/
// NotFound (unknown group), InvalidSubscriber/BadRequest (a subscriber
// number that is malformed or sandbox.Unreachable), InvalidMessage/
// BadRequest (missing or over-long text), BadRequest/BadRequest (unreadable
// body), UnsupportedMediaType/BadRequest, MethodNotAllowed/BadRequest and
// NotFound/NotFound (unknown path).
package kaizala

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/smsq/smsq/sandbox"
)

// Defaults the fake accepts, for tests and the demo.
const (
	DefaultApplicationID     = "5a9d1c3e-0000-4000-8000-5a4db0c0ffee"
	DefaultApplicationSecret = "sandbox-application-secret"
	DefaultRefreshToken      = "sandbox-refresh-token"
	// DefaultGroup is a group id the fake knows.
	DefaultGroup = "sandbox-group"
	// DefaultGroupPattern makes every id starting with "group-" known too.
	DefaultGroupPattern = "group-*"
	DefaultTokenTTL     = 24 * time.Hour
	// MaxMessageChars is the documented cap on a message's text.
	MaxMessageChars = 4000
	// CodeInvalidSubscriber is the (invented) errorCode of a 400 that
	// refuses a subscriber number.
	CodeInvalidSubscriber = "InvalidSubscriber"
)

// Options configure the fake. Zero values take the defaults named.
type Options struct {
	// ApplicationID accepted on the token call. Default: DefaultApplicationID.
	ApplicationID string `koanf:"application_id"`
	// ApplicationSecret accepted on the token call. Default: DefaultApplicationSecret.
	ApplicationSecret string `koanf:"application_secret"`
	// RefreshToken accepted on the token call until replaced. Default: DefaultRefreshToken.
	RefreshToken string `koanf:"refresh_token"`
	// TokenTTL is an access token's life. Default: 24h.
	TokenTTL time.Duration `koanf:"token_ttl"`
	// Groups are the known group ids; an entry ending in "*" matches every
	// id with that prefix. Default: DefaultGroup and DefaultGroupPattern.
	Groups []string `koanf:"groups"`
	// EndpointURL is the endpointUrl handed out with tokens. Default: this
	// fake as the client reached it ("http://" + Host + X-Forwarded-Prefix
	// + "/"), with the trailing slash the seed's URL building needs.
	EndpointURL string `koanf:"endpoint_url"`
	// RotateRefreshToken: every token answer carries a new refreshToken and
	// the one used stops working, as Kaizala does once a replacement is
	// generated. Default: false (refreshToken is "").
	RotateRefreshToken bool `koanf:"rotate_refresh_token"`
	// Now is the clock for token expiry. Default: time.Now.
	Now func() time.Time `koanf:"-"`
}

// Server is the fake. It is safe for concurrent use and starts no
// goroutines.
type Server struct {
	o      Options
	faults *sandbox.Injector
	rec    *sandbox.Recorder

	mu      sync.Mutex
	refresh string
	tokens  map[string]time.Time // access token → expiry
	// msgPrefix and tokPrefix are where the messages API and the token
	// service live ("/" unless moved by Redirect308/RedirectToken308).
	msgPrefix string
	tokPrefix string
}

var _ sandbox.Fake = (*Server)(nil)

// New returns a fake with o's settings.
func New(o Options) *Server {
	if o.ApplicationID == "" {
		o.ApplicationID = DefaultApplicationID
	}
	if o.ApplicationSecret == "" {
		o.ApplicationSecret = DefaultApplicationSecret
	}
	if o.RefreshToken == "" {
		o.RefreshToken = DefaultRefreshToken
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if len(o.Groups) == 0 {
		o.Groups = []string{DefaultGroup, DefaultGroupPattern}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{
		o:         o,
		faults:    sandbox.NewInjector(),
		rec:       sandbox.NewRecorder(),
		refresh:   o.RefreshToken,
		tokens:    map[string]time.Time{},
		msgPrefix: "/",
		tokPrefix: "/",
	}
}

// Name implements sandbox.Fake.
func (s *Server) Name() string { return "kaizala" }

// Faults implements sandbox.Fake.
func (s *Server) Faults() *sandbox.Injector { return s.faults }

// Recorder implements sandbox.Fake.
func (s *Server) Recorder() *sandbox.Recorder { return s.rec }

// ExpireTokens implements sandbox.Fake: every access token issued so far
// is refused from now on. Refresh tokens keep working.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	clear(s.tokens)
	s.mu.Unlock()
}

// RefreshToken is the refresh token the token service accepts now.
func (s *Server) RefreshToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refresh
}

// Redirect308 moves the messages API under prefix (e.g. "/moved/"), as
// when a user's endpoint URL changes: calls at the old place get 308 with
// Location set to the new endpoint URL, and new tokens carry it. An empty
// prefix moves it back to the root.
func (s *Server) Redirect308(prefix string) {
	s.mu.Lock()
	s.msgPrefix = normPrefix(prefix)
	s.mu.Unlock()
}

// RedirectToken308 moves the token service under prefix: GET /v1/accessToken
// then answers 308 with Location set to the full new URL. Empty undoes it.
func (s *Server) RedirectToken308(prefix string) {
	s.mu.Lock()
	s.tokPrefix = normPrefix(prefix)
	s.mu.Unlock()
}

func normPrefix(p string) string {
	if p = strings.Trim(p, "/"); p == "" {
		return "/"
	}
	return "/" + p + "/"
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	if prefix, ok := strings.CutSuffix(p, "v1/accessToken"); ok && strings.HasPrefix(prefix, "/") && strings.HasSuffix(prefix, "/") {
		s.serveToken(w, r, prefix)
		return
	}
	if prefix, group, ok := messagesPath(p); ok {
		s.serveMessages(w, r, prefix, group)
		return
	}
	s.rec.Capture(r)
	writeError(w, http.StatusNotFound, "No such resource", "NotFound", "NotFound")
}

// messagesPath splits "{prefix}v1/groups/{groupId}/messages".
func messagesPath(p string) (prefix, group string, ok bool) {
	i := strings.Index(p, "/v1/groups/")
	if i < 0 {
		return "", "", false
	}
	prefix = p[:i+1]
	g, ok := strings.CutSuffix(p[i+len("/v1/groups/"):], "/messages")
	if !ok || g == "" || strings.Contains(g, "/") {
		return "", "", false
	}
	group, err := url.PathUnescape(g)
	if err != nil {
		return "", "", false
	}
	return prefix, group, true
}

// base is this fake's URL as the client reached it, without trailing slash.
func base(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + strings.TrimRight(r.Header.Get("X-Forwarded-Prefix"), "/")
}

// endpointURL is the endpointUrl for the messages API at prefix.
func (s *Server) endpointURL(r *http.Request, prefix string) string {
	if s.o.EndpointURL != "" {
		return strings.TrimRight(s.o.EndpointURL, "/") + prefix
	}
	return base(r) + prefix
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, prefix string) {
	s.rec.Capture(r)
	s.mu.Lock()
	home := s.tokPrefix
	s.mu.Unlock()
	if prefix != home {
		if prefix == "/" {
			w.Header().Set("Location", base(r)+home+"v1/accessToken")
			writeError(w, http.StatusPermanentRedirect, "Permanent Redirect", "", "")
			return
		}
		writeError(w, http.StatusNotFound, "No such resource", "NotFound", "NotFound")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "The token service takes GET", "MethodNotAllowed", "BadRequest")
		return
	}
	id, secret, rt := r.Header.Get("applicationId"), r.Header.Get("applicationSecret"), r.Header.Get("refreshToken")
	if id == "" || secret == "" || rt == "" {
		writeError(w, http.StatusUnauthorized, "applicationId, applicationSecret and refreshToken headers are required",
			"InvalidToken", "AuthException")
		return
	}
	now := s.o.Now()
	s.mu.Lock()
	if !same(id, s.o.ApplicationID) || !same(secret, s.o.ApplicationSecret) || !same(rt, s.refresh) {
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "Invalid application credentials or refresh token", "InvalidToken", "AuthException")
		return
	}
	for t, exp := range s.tokens { // forget dead tokens so a long demo stays small
		if !now.Before(exp) {
			delete(s.tokens, t)
		}
	}
	access := randomToken()
	expiry := now.Add(s.o.TokenTTL)
	s.tokens[access] = expiry
	next := ""
	if s.o.RotateRefreshToken {
		next = randomToken()
		s.refresh = next
	}
	msgHome := s.msgPrefix
	s.mu.Unlock()
	s.rec.TokenIssued()
	writeJSON(w, http.StatusOK, map[string]any{
		"accessToken":       access,
		"endpointUrl":       s.endpointURL(r, msgHome),
		"accessTokenExpiry": expiry.UnixMilli(),
		"refreshToken":      next,
		"scope":             "token.write",
	})
}

// message is what a send request carries, from JSON or a form.
type message struct {
	Message              string   `json:"message"`
	SendToAllSubscribers bool     `json:"sendToAllSubscribers"`
	Subscribers          []string `json:"subscribers"`
}

func (s *Server) serveMessages(w http.ResponseWriter, r *http.Request, prefix, group string) {
	s.rec.Capture(r)
	if s.faults.Intercept(w, r) {
		return
	}
	s.mu.Lock()
	home := s.msgPrefix
	s.mu.Unlock()
	if prefix != home {
		if prefix == "/" {
			w.Header().Set("Location", s.endpointURL(r, home))
			writeError(w, http.StatusPermanentRedirect, "Endpoint URL changed", "", "")
			return
		}
		writeError(w, http.StatusNotFound, "No such resource", "NotFound", "NotFound")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "Sending a message takes POST", "MethodNotAllowed", "BadRequest")
		return
	}
	if !s.authorised(w, r) {
		return
	}
	if !s.knownGroup(group) {
		writeError(w, http.StatusNotFound, "Group not found", "GroupNotFound", "NotFound")
		return
	}
	m, ok := readMessage(w, r)
	if !ok {
		return
	}
	switch n := utf8.RuneCountInString(m.Message); {
	case strings.TrimSpace(m.Message) == "":
		writeError(w, http.StatusBadRequest, "message is required", "InvalidMessage", "BadRequest")
		return
	case n > MaxMessageChars:
		writeError(w, http.StatusBadRequest, "message exceeds 4000 characters", "InvalidMessage", "BadRequest")
		return
	}
	for _, sub := range m.Subscribers {
		if !mobileNumber(sub) || sandbox.Unreachable(sub) {
			// The real service's wording is unknown; echoing the number lets
			// tests check that clients keep it out of their logs.
			writeError(w, http.StatusBadRequest, "Subscriber "+sub+" is not a valid subscriber mobile number",
				CodeInvalidSubscriber, "BadRequest")
			return
		}
	}
	id := uuid.NewString()
	s.rec.Accept(sandbox.Accepted{ID: id, To: group, Text: m.Message, At: s.o.Now()})
	writeJSON(w, http.StatusOK, map[string]string{"referenceId": id})
}

func (s *Server) authorised(w http.ResponseWriter, r *http.Request) bool {
	tok := r.Header.Get("accessToken")
	if tok == "" {
		writeError(w, http.StatusUnauthorized, "Token missing. Header should have token as value of ACCESSTOKEN",
			"InvalidToken", "AuthException")
		return false
	}
	s.mu.Lock()
	exp, ok := s.tokens[tok]
	s.mu.Unlock()
	if !ok || !s.o.Now().Before(exp) {
		writeError(w, http.StatusUnauthorized, "Access token is invalid or expired", "InvalidToken", "AuthException")
		return false
	}
	return true
}

func (s *Server) knownGroup(g string) bool {
	for _, k := range s.o.Groups {
		if p, ok := strings.CutSuffix(k, "*"); ok {
			if strings.HasPrefix(g, p) && len(g) > len(p) {
				return true
			}
		} else if g == k {
			return true
		}
	}
	return false
}

// readMessage decodes JSON (documented) or a form (what the seed sends,
// with "True" for sendToAllSubscribers). It answers the error itself.
func readMessage(w http.ResponseWriter, r *http.Request) (message, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	var m message
	switch mt {
	case "application/json":
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		if err := dec.Decode(&m); err != nil {
			writeError(w, http.StatusBadRequest, "Request body is not valid JSON for this call", "BadRequest", "BadRequest")
			return message{}, false
		}
	case "application/x-www-form-urlencoded":
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "Request body is not a valid form", "BadRequest", "BadRequest")
			return message{}, false
		}
		m.Message = r.PostForm.Get("message")
		m.Subscribers = r.PostForm["subscribers"]
		switch v := r.PostForm.Get("sendToAllSubscribers"); strings.ToLower(v) {
		case "", "false":
		case "true":
			m.SendToAllSubscribers = true
		default:
			writeError(w, http.StatusBadRequest, "sendToAllSubscribers must be true or false", "BadRequest", "BadRequest")
			return message{}, false
		}
	default:
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json",
			"UnsupportedMediaType", "BadRequest")
		return message{}, false
	}
	return m, true
}

// mobileNumber is the documented subscriber shape: "+" and country code.
func mobileNumber(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func same(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg, code, category string) {
	body := map[string]string{"message": msg}
	if code != "" {
		body["errorCode"] = code
		body["errorCategoryKey"] = category
	}
	writeJSON(w, status, body)
}
