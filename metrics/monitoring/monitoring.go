// Package monitoring serves the asynq queue UI (asynqmon) the way smsq
// can expose it: phone numbers masked and secrets blanked in everything it
// shows, optionally view-only, and behind HTTP basic auth or a bearer
// token when credentials are configured. The UI lists tasks with their
// payloads and can delete, run and archive them, so with no credentials it
// must only be reachable from trusted places (the worker listens on
// loopback by default).
package monitoring

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"

	"github.com/smsq/smsq/mask"
)

// Options configure the UI handler.
type Options struct {
	// Conn is the queue's Redis. Required.
	Conn asynq.RedisConnOpt
	// RootPath is where the handler is mounted. Default "/monitoring".
	RootPath string
	// ReadOnly makes the UI view-only: its API refuses every method but
	// GET (asynqmon answers 405). Default false.
	ReadOnly bool
	// Username and Password require HTTP basic auth; set both or neither.
	// Default "": no basic auth.
	Username, Password string
	// Token is accepted as "Authorization: Bearer <token>", alone or beside
	// basic auth (browsers cannot send it: it suits scripts and proxies).
	// Default "": no token.
	Token string
	// Secrets are blanked ("***") from payloads, results and every API
	// answer (error messages included). Nil: none.
	Secrets *mask.Secrets
	// Realm names the protected space in WWW-Authenticate. Default
	// "smsq monitoring".
	Realm string
}

// Validate reports options that cannot work, naming the field.
func (o Options) Validate() error {
	var errs []error
	if o.Conn == nil {
		errs = append(errs, errors.New("monitoring: conn: required"))
	}
	if o.RootPath != "" && !strings.HasPrefix(o.RootPath, "/") {
		errs = append(errs, errors.New("monitoring: root_path: must start with /"))
	}
	if (o.Username == "") != (o.Password == "") {
		errs = append(errs, errors.New("monitoring: username, password: set both or neither"))
	}
	if strings.Contains(o.Username, ":") {
		errs = append(errs, errors.New("monitoring: username: must not contain ':'"))
	}
	return errors.Join(errs...)
}

// Handler is the protected UI. Close it to release its Redis connections.
type Handler struct {
	ui      *asynqmon.HTTPHandler
	apiPath string
	secrets *mask.Secrets
	// Digests of the credentials, compared in constant time: comparing
	// digests also hides the credentials' lengths.
	user, pass, token [sha256.Size]byte
	basic, bearer     bool
	challenge         []string
}

// New builds the handler.
func New(o Options) (*Handler, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.RootPath == "" {
		o.RootPath = "/monitoring"
	}
	o.RootPath = strings.TrimSuffix(o.RootPath, "/")
	if o.Realm == "" {
		o.Realm = "smsq monitoring"
	}
	h := &Handler{apiPath: o.RootPath + "/api/", secrets: o.Secrets,
		basic: o.Username != "", bearer: o.Token != ""}
	if h.basic {
		h.user, h.pass = sha256.Sum256([]byte(o.Username)), sha256.Sum256([]byte(o.Password))
		h.challenge = append(h.challenge, "Basic realm="+strconv.Quote(o.Realm)+`, charset="UTF-8"`)
	}
	if h.bearer {
		h.token = sha256.Sum256([]byte(o.Token))
		h.challenge = append(h.challenge, "Bearer realm="+strconv.Quote(o.Realm))
	}
	h.ui = asynqmon.New(asynqmon.Options{
		RootPath:         o.RootPath,
		RedisConnOpt:     o.Conn,
		ReadOnly:         o.ReadOnly,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(func(_ string, b []byte) string { return h.Format(b) }),
		ResultFormatter:  asynqmon.ResultFormatterFunc(func(_ string, b []byte) string { return h.Format(b) }),
	})
	return h, nil
}

// Format is how a payload or result is shown: secrets blanked, then phone
// numbers masked (secrets first, so a secret holding digits goes whole).
func (h *Handler) Format(b []byte) string {
	if !utf8.Valid(b) {
		return "non-printable bytes"
	}
	return mask.Text(string(h.secrets.Redact(b)))
}

// Protected reports whether the handler asks for credentials.
func (h *Handler) Protected() bool { return h.basic || h.bearer }

// Close releases the UI's Redis connections.
func (h *Handler) Close() error { return h.ui.Close() }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.allowed(r) {
		for _, c := range h.challenge {
			w.Header().Add("WWW-Authenticate", c)
		}
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	if h.secrets == nil || !strings.HasPrefix(r.URL.Path, h.apiPath) {
		h.ui.ServeHTTP(w, r)
		return
	}
	// API answers carry more than payloads (error messages, server
	// details): blank secrets in the whole body. They are small JSON
	// pages; the static UI is not touched.
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	h.ui.ServeHTTP(rec, r)
	body := h.secrets.Redact(rec.body.Bytes())
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.status)
	_, _ = w.Write(body)
}

// allowed checks the credentials; with none configured everyone is.
func (h *Handler) allowed(r *http.Request) bool {
	if !h.basic && !h.bearer {
		return true
	}
	auth := r.Header.Get("Authorization")
	scheme, value, _ := strings.Cut(auth, " ")
	switch {
	case h.bearer && strings.EqualFold(scheme, "Bearer"):
		got := sha256.Sum256([]byte(strings.TrimSpace(value)))
		return subtle.ConstantTimeCompare(got[:], h.token[:]) == 1
	case h.basic && strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return false
		}
		u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
		// Both compared whatever the first gives: no early exit to time.
		okUser := subtle.ConstantTimeCompare(u[:], h.user[:])
		okPass := subtle.ConstantTimeCompare(p[:], h.pass[:])
		return okUser&okPass == 1
	}
	return false
}

// recorder buffers one API answer so that it can be redacted whole.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
