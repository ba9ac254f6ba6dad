// Package kandy is a fake of the legacy Kandy.io REST API (v1.2), limited to
// what sending an SMS needs: the user access token, the user's devices and
// devices/smss. It serves under /v1.2/ exactly like api.kandy.io, so an
// adapter's base_url is the server's URL followed by "/v1.2/".
//
// Kandy documents its envelope ({"status", "message", "result"}) and a few
// status codes (1, 3, 701, 710, from its chat endpoints), not the codes for
// a bad key, an unknown device or a refused destination. The fake answers
// those with the invented codes below (900 and up) so that they are easy to
// tell from documented ones.
package kandy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/smsq/smsq/sandbox"
)

// Credentials the fake accepts by default; tests and the demo use them.
const (
	DefaultDomainAPIKey    = "DAK1f0e5c2b7a9d4e3f8c6b1a0d9e7f2c4b"
	DefaultDomainAPISecret = "DAS8b3e1d6f0a2c9e7b4d5f1a3c8e6b0d2f"
	DefaultUserID          = "smsq"
	DefaultDeviceID        = "4d405f6dfd9842a981a90daaf0da08fa"
)

// Prefix is the path every endpoint lives under.
const Prefix = "/v1.2/"

// Status codes the fake answers with.
const (
	StatusOK                = 0
	StatusInternalError     = 1   // documented
	StatusMissingParameters = 3   // documented
	StatusUserNotFound      = 701 // documented
	StatusInvalidFormat     = 710 // documented: "message in an invalid format"
	// The codes below are invented: Kandy's real values are not documented.
	StatusInvalidKey         = 900 // key, secret or access token refused (HTTP 401)
	StatusDeviceNotFound     = 901 // device_id not registered to the user
	StatusInvalidDestination = 902 // destination cannot receive SMS
	StatusSourceNotAllowed   = 903 // source number not allowed for the user
	StatusMethodNotAllowed   = 904 // HTTP 405
	StatusNotFound           = 905 // HTTP 404, no such endpoint
)

// Options configure the fake. The zero value accepts the Default*
// credentials and never expires tokens.
type Options struct {
	// DomainAPIKey is the domain key accepted. Default: DefaultDomainAPIKey.
	DomainAPIKey string
	// DomainAPISecret is the domain secret accepted. Default: DefaultDomainAPISecret.
	DomainAPISecret string
	// UserID is the one user of the domain. Default: DefaultUserID.
	UserID string
	// DeviceID is the device registered to the user at start. Default:
	// DefaultDeviceID.
	DeviceID string
	// NoDevice starts the user with no registered device. Default: false.
	NoDevice bool
	// Sources are the sender numbers the user may send from, E.164 with or
	// without "+". Default: empty, any well-formed number.
	Sources []string
	// TokenTTL is how long an access token is accepted. Default: 0, tokens
	// never expire (Kandy documents no lifetime); they are refused only after
	// ExpireTokens.
	TokenTTL time.Duration
	// Now is the clock token lifetimes are measured with. Default: time.Now.
	Now func() time.Time
}

// Server is the fake. It is safe for concurrent use and starts no goroutines.
type Server struct {
	o       Options
	faults  *sandbox.Injector
	rec     *sandbox.Recorder
	sources map[string]bool

	mu      sync.Mutex
	tokens  map[string]time.Time // value → expiry (zero: none)
	devices []device
}

var _ sandbox.Fake = (*Server)(nil)

// device is a registered device as Kandy lists it. `id` and `device_id`
// carry the same value: the documents show `device_id`, Kandy's own SDKs
// read `id`.
type device struct {
	ID              string `json:"id"`
	DeviceID        string `json:"device_id"`
	DeviceNativeID  string `json:"device_native_id"`
	DeviceFamily    string `json:"device_family"`
	DeviceName      string `json:"device_name"`
	ClientSWVersion string `json:"client_sw_version"`
	DeviceOSVersion string `json:"device_os_version"`
}

// New returns a fake with o's settings.
func New(o Options) *Server {
	if o.DomainAPIKey == "" {
		o.DomainAPIKey = DefaultDomainAPIKey
	}
	if o.DomainAPISecret == "" {
		o.DomainAPISecret = DefaultDomainAPISecret
	}
	if o.UserID == "" {
		o.UserID = DefaultUserID
	}
	if o.DeviceID == "" {
		o.DeviceID = DefaultDeviceID
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{
		o:       o,
		faults:  sandbox.NewInjector(),
		rec:     sandbox.NewRecorder(),
		sources: map[string]bool{},
		tokens:  map[string]time.Time{},
	}
	for _, n := range o.Sources {
		if d, ok := digits(n); ok {
			s.sources[d] = true
		}
	}
	if !o.NoDevice {
		s.devices = []device{{ID: o.DeviceID, DeviceID: o.DeviceID, DeviceNativeID: "smsq-sandbox",
			DeviceFamily: "server", DeviceName: "smsq sandbox", ClientSWVersion: "0102001", DeviceOSVersion: "1.0"}}
	}
	return s
}

// Name implements sandbox.Fake.
func (s *Server) Name() string { return "kandy" }

// Faults implements sandbox.Fake.
func (s *Server) Faults() *sandbox.Injector { return s.faults }

// Recorder implements sandbox.Fake.
func (s *Server) Recorder() *sandbox.Recorder { return s.rec }

// ExpireTokens implements sandbox.Fake: every access token issued so far is
// revoked, so its next use gets HTTP 401.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	clear(s.tokens)
	s.mu.Unlock()
}

// Devices returns the ids of the devices currently registered to the user.
func (s *Server) Devices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, len(s.devices))
	for i, d := range s.devices {
		ids[i] = d.ID
	}
	return ids
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.rec.Capture(r)
	path, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		reply(w, http.StatusNotFound, StatusNotFound, "no such endpoint", nil)
		return
	}
	switch path {
	case "domains/users/accesstokens":
		s.userToken(w, r)
	case "users/devices":
		s.userDevices(w, r)
	case "devices/smss":
		s.sendSMS(w, r)
	default:
		reply(w, http.StatusNotFound, StatusNotFound, "no such endpoint", nil)
	}
}

// userToken: GET domains/users/accesstokens?key=&domain_api_secret=&user_id=.
// Parameters are read from the query only; a body is ignored.
func (s *Server) userToken(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	q := r.URL.Query()
	key, secret, user := q.Get("key"), q.Get("domain_api_secret"), q.Get("user_id")
	switch {
	case key == "" || secret == "" || user == "":
		reply(w, http.StatusOK, StatusMissingParameters, "missing parameters", nil)
		return
	case key != s.o.DomainAPIKey || secret != s.o.DomainAPISecret:
		reply(w, http.StatusUnauthorized, StatusInvalidKey, "invalid domain api key or secret", nil)
		return
	case user != s.o.UserID:
		reply(w, http.StatusOK, StatusUserNotFound, "user not found", nil)
		return
	}
	tok := newID()
	s.mu.Lock()
	var exp time.Time
	if s.o.TokenTTL > 0 {
		exp = s.o.Now().Add(s.o.TokenTTL)
	}
	s.tokens[tok] = exp
	s.mu.Unlock()
	s.rec.TokenIssued()
	reply(w, http.StatusOK, StatusOK, "success", map[string]string{"user_access_token": tok})
}

// authorized checks the user access token in `key` and answers 401 when it
// is missing, unknown, revoked or expired.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	key := r.URL.Query().Get("key")
	s.mu.Lock()
	exp, ok := s.tokens[key]
	if ok && !exp.IsZero() && !s.o.Now().Before(exp) {
		delete(s.tokens, key)
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		reply(w, http.StatusUnauthorized, StatusInvalidKey, "invalid or expired key", nil)
	}
	return ok
}

// userDevices: GET lists, POST registers, DELETE removes a device.
func (s *Server) userDevices(w http.ResponseWriter, r *http.Request) {
	if s.faults.Intercept(w, r) {
		return
	}
	if !allow(w, r, http.MethodGet, http.MethodPost, http.MethodDelete) || !s.authorized(w, r) {
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		list := slices.Clone(s.devices)
		s.mu.Unlock()
		if list == nil {
			list = []device{}
		}
		reply(w, http.StatusOK, StatusOK, "success", map[string]any{"devices": list})
	case http.MethodPost:
		if !isJSON(r) {
			reply(w, http.StatusOK, StatusInvalidFormat, "message in an invalid format", nil)
			return
		}
		var d device
		if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
			reply(w, http.StatusOK, StatusInvalidFormat, "message in an invalid format", nil)
			return
		}
		if d.DeviceNativeID == "" {
			reply(w, http.StatusOK, StatusMissingParameters, "missing parameters", nil)
			return
		}
		d.ID = newID()
		d.DeviceID = d.ID
		s.mu.Lock()
		s.devices = append(s.devices, d)
		s.mu.Unlock()
		reply(w, http.StatusOK, StatusOK, "success", map[string]string{"device_id": d.ID})
	case http.MethodDelete:
		id := r.URL.Query().Get("device_id")
		if id == "" {
			reply(w, http.StatusOK, StatusMissingParameters, "missing parameters", nil)
			return
		}
		s.mu.Lock()
		n := len(s.devices)
		s.devices = slices.DeleteFunc(s.devices, func(d device) bool { return d.ID == id })
		found := len(s.devices) < n
		s.mu.Unlock()
		if !found {
			reply(w, http.StatusOK, StatusDeviceNotFound, "device not found", nil)
			return
		}
		reply(w, http.StatusOK, StatusOK, "Device Deleted", nil)
	}
}

func (s *Server) hasDevice(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.devices, func(d device) bool { return d.ID == id })
}

// smsBody is the devices/smss request body.
type smsBody struct {
	Message *struct {
		Source      string `json:"source"`
		Destination string `json:"destination"`
		Message     *struct {
			Text string `json:"text"`
		} `json:"message"`
	} `json:"message"`
}

// sendSMS: POST devices/smss?key={UAT}&device_id={id} with a JSON body.
func (s *Server) sendSMS(w http.ResponseWriter, r *http.Request) {
	if s.faults.Intercept(w, r) {
		return
	}
	if !allow(w, r, http.MethodPost) || !s.authorized(w, r) {
		return
	}
	dev := r.URL.Query().Get("device_id")
	if dev == "" {
		reply(w, http.StatusOK, StatusMissingParameters, "missing parameters", nil)
		return
	}
	if !s.hasDevice(dev) {
		reply(w, http.StatusOK, StatusDeviceNotFound, "device not found", nil)
		return
	}
	var b smsBody
	if !isJSON(r) || json.NewDecoder(r.Body).Decode(&b) != nil {
		reply(w, http.StatusOK, StatusInvalidFormat, "message in an invalid format", nil)
		return
	}
	if b.Message == nil || b.Message.Message == nil ||
		b.Message.Source == "" || b.Message.Destination == "" || b.Message.Message.Text == "" {
		reply(w, http.StatusOK, StatusMissingParameters, "missing parameters", nil)
		return
	}
	src, ok := digits(b.Message.Source)
	if !ok {
		reply(w, http.StatusOK, StatusInvalidFormat, "message in an invalid format", nil)
		return
	}
	if len(s.sources) > 0 && !s.sources[src] {
		reply(w, http.StatusOK, StatusSourceNotAllowed, "source number not allowed", nil)
		return
	}
	dst, ok := digits(b.Message.Destination)
	if !ok || sandbox.Unreachable(dst) {
		reply(w, http.StatusOK, StatusInvalidDestination, "invalid destination", nil)
		return
	}
	// Kandy returns no message id: the accepted message has none either.
	s.rec.Accept(sandbox.Accepted{To: "+" + dst, From: "+" + src, Text: b.Message.Message.Text, At: time.Now()})
	reply(w, http.StatusOK, StatusOK, "success", nil)
}

// digits checks an E.164 number, "+" optional, and returns its digits.
func digits(n string) (string, bool) {
	d := strings.TrimPrefix(n, "+")
	if len(d) < 7 || len(d) > 15 || d[0] == '0' {
		return "", false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return "", false
		}
	}
	return d, true
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	reply(w, http.StatusMethodNotAllowed, StatusMethodNotAllowed, "method not allowed", nil)
	return false
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// reply writes Kandy's envelope; result is omitted when nil.
func reply(w http.ResponseWriter, httpStatus, status int, message string, result any) {
	body := map[string]any{"status": status, "message": message}
	if result != nil {
		body["result"] = result
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_ = json.NewEncoder(w).Encode(body)
}

// newID returns 32 hex digits, the shape of Kandy's tokens and device ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
