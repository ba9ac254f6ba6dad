// Package conectaline is a fake Conectaline WebSMS API (apisms.conectaline.com)
// for tests and the demo. It serves the documented paths under /v1 as if at
// the host root: POST /v1/login, /v1/push/simple, /v1/push/multiple and
// /v1/push/campaigns, with form bodies (urlencoded or multipart, never
// JSON), a fixed api_token or a temporary Bearer token, and the documented
// 1000-recipient cap on push/multiple.
//
// The provider documents neither the contents of a successful "data" member
// nor its error codes. This fake invents them, and says so where it does:
// pushes answer {"data":{"id":<int>,"total":<n>}}, plus "rejected" (the
// refused numbers) when a call mixes good and bad numbers; errors are
// {"error":{"code":"<code>","message":"<Spanish text>"}} with the codes
// listed as Code* constants.
package conectaline

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smsq/smsq/sandbox"
)

// Credentials and settings the fake accepts unless Options say otherwise.
const (
	DefaultAPIToken          = "sandbox-conectaline-api-token"
	DefaultEmail             = "sandbox@conectaline.test"
	DefaultPassword          = "sandbox-conectaline-password"
	DefaultConfigurationName = "smsq-sandbox"
	DefaultTokenTTL          = time.Hour
)

// MultipleCap is the documented maximum of entries in one push/multiple.
const MultipleCap = 1000

// Paths served, as at the real host's root.
const (
	PathLogin     = "/v1/login"
	PathSimple    = "/v1/push/simple"
	PathMultiple  = "/v1/push/multiple"
	PathCampaigns = "/v1/push/campaigns"
)

// Error codes this fake answers with (invented: the real ones are not
// documented).
const (
	CodeUnauthorized         = "unauthorized"
	CodeInvalidCredentials   = "invalid_credentials"
	CodeMissingField         = "missing_field"
	CodeInvalidField         = "invalid_field"
	CodeInvalidConfiguration = "invalid_configuration"
	CodeInvalidJSON          = "invalid_json"
	CodeTooManyRecipients    = "too_many_recipients"
	CodeInvalidNumber        = "invalid_number"
	CodeInvalidGroup         = "invalid_group"
	CodeInvalidDate          = "invalid_date"
	CodeUnsupportedMedia     = "unsupported_media_type"
	CodeBadBody              = "bad_body"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeNotFound             = "not_found"
)

// Options configure the fake.
type Options struct {
	// APIToken is the fixed token accepted in the api_token field. Default:
	// DefaultAPIToken.
	APIToken string `koanf:"api_token"`
	// Email and Password are the login accepted by /v1/login. Defaults:
	// DefaultEmail, DefaultPassword.
	Email    string `koanf:"email"`
	Password string `koanf:"password"`
	// ConfigurationName is the only send configuration that exists.
	// Default: DefaultConfigurationName.
	ConfigurationName string `koanf:"configuration_name"`
	// TokenTTL is the life of a temporary token. Default: 1h.
	TokenTTL time.Duration `koanf:"token_ttl"`
	// SimpleCap, when > 0, refuses push/simple calls with more numbers than
	// this (the documents give no cap). Default (0): no cap.
	SimpleCap int `koanf:"simple_cap"`
	// Groups are the agenda group ids campaigns may name. Default: 2, 3, 4
	// (the ids in the documents' examples).
	Groups []int `koanf:"groups"`
	// Now is the clock deciding token expiry. Default: time.Now.
	Now func() time.Time `koanf:"-"`
}

// Campaign is a campaign the fake accepted.
type Campaign struct {
	ID                int
	Name              string
	ConfigurationName string
	Message           string
	Groups            []int
	StartDate         string
	// Custom is true when both smsxblock and minutesxblock were given; only
	// then are the pacing fields below set.
	Custom          bool
	SMSPerBlock     int
	MinutesPerBlock int
	Days            []int
	TimeIntervals   []string
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	o      Options
	faults *sandbox.Injector
	rec    *sandbox.Recorder

	mu        sync.Mutex
	tokens    map[string]time.Time // temporary token → expiry
	nextID    int
	calls     map[string]int
	maxRcpt   int
	campaigns []Campaign
}

var _ sandbox.Fake = (*Server)(nil)

// New returns a fake with o's zero fields set to their defaults.
func New(o Options) *Server {
	if o.APIToken == "" {
		o.APIToken = DefaultAPIToken
	}
	if o.Email == "" {
		o.Email = DefaultEmail
	}
	if o.Password == "" {
		o.Password = DefaultPassword
	}
	if o.ConfigurationName == "" {
		o.ConfigurationName = DefaultConfigurationName
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if len(o.Groups) == 0 {
		o.Groups = []int{2, 3, 4}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{
		o:      o,
		faults: sandbox.NewInjector(),
		rec:    sandbox.NewRecorder(),
		tokens: map[string]time.Time{},
		calls:  map[string]int{},
	}
}

// Name implements sandbox.Fake.
func (s *Server) Name() string { return "conectaline" }

// Faults implements sandbox.Fake.
func (s *Server) Faults() *sandbox.Injector { return s.faults }

// Recorder implements sandbox.Fake.
func (s *Server) Recorder() *sandbox.Recorder { return s.rec }

// ExpireTokens implements sandbox.Fake: every temporary token issued so far
// is refused from now on. Fixed api_tokens are not affected.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	for t := range s.tokens {
		s.tokens[t] = time.Time{}
	}
	s.mu.Unlock()
}

// Calls returns how many calls reached path (one of the Path* constants),
// refused ones included.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// MaxRecipientsPerCall is the largest number of recipients seen in any one
// push call, counted before any check, so a call over a cap shows here too.
func (s *Server) MaxRecipientsPerCall() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxRcpt
}

// Campaigns returns the campaigns accepted so far.
func (s *Server) Campaigns() []Campaign {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Campaign(nil), s.campaigns...)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.rec.Capture(r)
	s.mu.Lock()
	s.calls[r.URL.Path]++
	s.mu.Unlock()

	switch r.URL.Path {
	case PathLogin:
		s.login(w, r)
		return
	case PathSimple, PathMultiple, PathCampaigns:
	default:
		writeError(w, http.StatusNotFound, CodeNotFound, "recurso no encontrado")
		return
	}
	if s.faults.Intercept(w, r) {
		return
	}
	form, ok := readForm(w, r)
	if !ok {
		return
	}
	if why := s.authorize(r, form); why != "" {
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, why)
		return
	}
	switch r.URL.Path {
	case PathSimple:
		s.pushSimple(w, form)
	case PathMultiple:
		s.pushMultiple(w, form)
	case PathCampaigns:
		s.pushCampaign(w, form)
	}
}

// maxBody bounds a request body: 1000 long personalised texts fit easily.
const maxBody = 8 << 20

// readForm reads a POST body in either form encoding the documents' samples
// produce (curl -d and Guzzle urlencode; PHP cURL with an array sends
// multipart). Only body fields count: the API takes nothing in the query.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "método no permitido: use POST")
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		// Read as r.ParseForm would, but into one buffer of the announced
		// length (a 1000-entry push/multiple is ~150 KB, which ParseForm's
		// io.ReadAll reaches by many doublings), decoded in place.
		body, err := readBody(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadBody, "cuerpo de la petición ilegible")
			return nil, false
		}
		form, err := parseForm(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadBody, "cuerpo de la petición ilegible")
			return nil, false
		}
		return form, true
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxBody); err != nil {
			writeError(w, http.StatusBadRequest, CodeBadBody, "cuerpo de la petición ilegible")
			return nil, false
		}
		_ = r.MultipartForm.RemoveAll()
	default:
		writeError(w, http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
			"los parámetros se envían como formulario (application/x-www-form-urlencoded o multipart/form-data)")
		return nil, false
	}
	return r.PostForm, true
}

// readBody reads a body already limited by http.MaxBytesReader.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength < 0 || r.ContentLength > maxBody {
		return io.ReadAll(r.Body)
	}
	b := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, b); err != nil {
		return nil, err
	}
	// Nothing may follow the announced length (net/http enforces it;
	// this keeps the check local).
	if n, _ := r.Body.Read(make([]byte, 1)); n > 0 {
		return nil, errors.New("body longer than its Content-Length")
	}
	return b, nil
}

// authorize returns "" when the call carries a valid temporary token in
// "Authorization: Bearer" or the fixed token in the api_token field, else
// why it does not.
func (s *Server) authorize(r *http.Request, form url.Values) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, found := strings.Cut(h, " ")
		if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return "cabecera Authorization mal formada: use Bearer <token>"
		}
		s.mu.Lock()
		exp, known := s.tokens[tok]
		s.mu.Unlock()
		switch {
		case !known:
			return "token no reconocido"
		case !s.o.Now().Before(exp):
			return "token caducado: obtenga uno nuevo en /login"
		}
		return ""
	}
	tok := form.Get("api_token")
	if tok == "" {
		return "autenticación requerida: api_token o Authorization: Bearer"
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.o.APIToken)) != 1 {
		return "api_token no reconocido"
	}
	return ""
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	form, ok := readForm(w, r)
	if !ok {
		return
	}
	if f := missing(form, "email", "password"); f != "" {
		writeError(w, http.StatusUnprocessableEntity, CodeMissingField, "falta el campo obligatorio: "+f)
		return
	}
	emailOK := subtle.ConstantTimeCompare([]byte(form.Get("email")), []byte(s.o.Email)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(form.Get("password")), []byte(s.o.Password)) == 1
	if !emailOK || !passOK {
		writeError(w, http.StatusUnauthorized, CodeInvalidCredentials, "email o contraseña incorrectos")
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	now := s.o.Now()
	exp := now.Add(s.o.TokenTTL)
	s.mu.Lock()
	for t, e := range s.tokens {
		if !now.Before(e) {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = exp
	s.mu.Unlock()
	s.rec.TokenIssued()
	// The shape the documents' PHP samples read; expires_in in seconds and
	// expires_at as a UTC datetime are assumptions (both undocumented).
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"token":      tok,
		"expires_in": int64(s.o.TokenTTL / time.Second),
		"expires_at": exp.UTC().Format("2006-01-02 15:04:05"),
	}})
}

func (s *Server) pushSimple(w http.ResponseWriter, form url.Values) {
	if !s.checkSend(w, form, "configuration_name", "message", "numbers") {
		return
	}
	raw := form.Get("numbers")
	parts := strings.Split(raw, ",")
	s.seen(len(parts))
	if strings.ContainsAny(raw, " \t+") {
		writeError(w, http.StatusUnprocessableEntity, CodeInvalidField,
			"numbers: separe los números con comas, sin espacios y sin '+'")
		return
	}
	for _, p := range parts {
		if p == "" {
			writeError(w, http.StatusUnprocessableEntity, CodeInvalidField, "numbers: la lista tiene un elemento vacío")
			return
		}
	}
	if s.o.SimpleCap > 0 && len(parts) > s.o.SimpleCap {
		writeError(w, http.StatusUnprocessableEntity, CodeTooManyRecipients,
			fmt.Sprintf("como máximo %d destinatarios por envío", s.o.SimpleCap))
		return
	}
	text := form.Get("message")
	msgs := make([]entry, len(parts))
	for i, p := range parts {
		msgs[i] = entry{number: p, text: text}
	}
	s.accept(w, msgs)
}

// entry is one recipient of a push and its text.
type entry struct{ number, text string }

func (s *Server) pushMultiple(w http.ResponseWriter, form url.Values) {
	if !s.checkSend(w, form, "configuration_name", "messages") {
		return
	}
	raw := form.Get("messages")
	if msgs, ok := quickEntries(raw); ok {
		if s.listSize(w, len(msgs)) {
			s.accept(w, msgs)
		}
		return
	}
	// Anything but the plain shape: encoding/json decides, and names the
	// first fault.
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		writeError(w, http.StatusUnprocessableEntity, CodeInvalidJSON, "messages debe ser una lista JSON de objetos {number, message}")
		return
	}
	if !s.listSize(w, len(list)) {
		return
	}
	msgs := make([]entry, len(list))
	for i, raw := range list {
		var e struct {
			Number  json.RawMessage `json:"number"`
			Message *string         `json:"message"`
		}
		if json.Unmarshal(raw, &e) != nil {
			writeError(w, http.StatusUnprocessableEntity, CodeInvalidJSON, fmt.Sprintf("messages[%d]: se esperaba un objeto {number, message}", i))
			return
		}
		num, ok := jsonNumberText(e.Number)
		if !ok || e.Message == nil || *e.Message == "" {
			writeError(w, http.StatusUnprocessableEntity, CodeMissingField, fmt.Sprintf("messages[%d]: number y message son obligatorios", i))
			return
		}
		if strings.ContainsAny(num, " \t+") {
			writeError(w, http.StatusUnprocessableEntity, CodeInvalidField, fmt.Sprintf("messages[%d].number: sin espacios y sin '+'", i))
			return
		}
		msgs[i] = entry{number: num, text: *e.Message}
	}
	s.accept(w, msgs)
}

// listSize notes a push/multiple list of n entries and refuses it when
// empty or over the cap; it reports whether the call may go on.
func (s *Server) listSize(w http.ResponseWriter, n int) bool {
	s.seen(n)
	switch {
	case n == 0:
		writeError(w, http.StatusUnprocessableEntity, CodeInvalidField, "messages: la lista está vacía")
		return false
	case n > MultipleCap:
		writeError(w, http.StatusUnprocessableEntity, CodeTooManyRecipients,
			fmt.Sprintf("como máximo %d destinatarios por envío múltiple (recibidos %d)", MultipleCap, n))
		return false
	}
	return true
}

// jsonNumberText reads an entry's number: the documents send strings; a
// bare JSON integer (what PHP's json_encode makes of an int) is taken too.
func jsonNumberText(raw json.RawMessage) (string, bool) {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str, str != ""
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if _, err := strconv.ParseUint(n.String(), 10, 64); err == nil {
			return n.String(), true
		}
	}
	return "", false
}

// checkSend validates the fields every push shares.
func (s *Server) checkSend(w http.ResponseWriter, form url.Values, required ...string) bool {
	if f := missing(form, required...); f != "" {
		writeError(w, http.StatusUnprocessableEntity, CodeMissingField, "falta el campo obligatorio: "+f)
		return false
	}
	if form.Get("configuration_name") != s.o.ConfigurationName {
		writeError(w, http.StatusUnprocessableEntity, CodeInvalidConfiguration, "la configuración de envío indicada no existe")
		return false
	}
	return true
}

// accept refuses unreachable or malformed numbers and accepts the rest. A
// call whose every number is bad is refused with invalid_number; a mixed
// call is accepted and lists the bad ones in data.rejected (an invented
// member: the documents say nothing of partial refusals).
func (s *Server) accept(w http.ResponseWriter, msgs []entry) {
	good := msgs[:0] // filtered in place: msgs is the caller's own
	var bad []string
	for _, m := range msgs {
		if validNumber(m.number) && !sandbox.Unreachable(m.number) {
			good = append(good, m)
		} else {
			bad = append(bad, m.number)
		}
	}
	if len(good) == 0 {
		shown := bad
		if len(shown) > 3 {
			shown = shown[:3]
		}
		writeError(w, http.StatusUnprocessableEntity, CodeInvalidNumber,
			"número no válido o inalcanzable: "+strings.Join(shown, ", "))
		return
	}
	now := s.o.Now()
	acc := make([]sandbox.Accepted, len(good))
	for i, m := range good {
		// To is recorded in E.164, like every fake; the API has no ids.
		acc[i] = sandbox.Accepted{ID: "", To: "+" + m.number, Text: m.text, At: now}
	}
	s.rec.Accept(acc...)
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	s.mu.Unlock()
	data := map[string]any{"id": id, "total": len(good)}
	if len(bad) > 0 {
		data["rejected"] = bad
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

// validNumber is an international number without "+": 6 to 15 digits.
func validNumber(n string) bool {
	if len(n) < 6 || len(n) > 15 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

var intervalRE = regexp.MustCompile(`^\d{2}:\d{2}-\d{2}:\d{2}$`)

func (s *Server) pushCampaign(w http.ResponseWriter, form url.Values) {
	if f := missing(form, "name", "configuration_name", "message", "available_groups"); f != "" {
		writeError(w, http.StatusUnprocessableEntity, CodeMissingField, "falta el campo obligatorio: "+f)
		return
	}
	if form.Get("configuration_name") != s.o.ConfigurationName {
		writeError(w, http.StatusUnprocessableEntity, CodeInvalidConfiguration, "la configuración de envío indicada no existe")
		return
	}
	fail := func(code, msg string) { writeError(w, http.StatusUnprocessableEntity, code, msg) }

	c := Campaign{Name: form.Get("name"), ConfigurationName: form.Get("configuration_name"), Message: form.Get("message")}
	for _, g := range strings.Split(form.Get("available_groups"), ",") {
		id, err := strconv.Atoi(g)
		if err != nil || id <= 0 {
			fail(CodeInvalidField, "available_groups: ids de grupo separados por comas, sin espacios")
			return
		}
		if !containsInt(s.o.Groups, id) {
			fail(CodeInvalidGroup, fmt.Sprintf("available_groups: el grupo %d no existe", id))
			return
		}
		c.Groups = append(c.Groups, id)
	}
	if sd := form.Get("start_date"); sd != "" {
		if _, err := time.Parse("2006-01-02 15:04", sd); err != nil {
			fail(CodeInvalidDate, "start_date: formato yyyy-mm-dd hh:mm")
			return
		}
		c.StartDate = sd
	}
	sms, mins := form.Get("smsxblock"), form.Get("minutesxblock")
	switch {
	case sms != "" && mins == "":
		fail(CodeMissingField, "minutesxblock es obligatorio cuando se indica smsxblock")
		return
	case mins != "" && sms == "":
		fail(CodeMissingField, "smsxblock es obligatorio cuando se indica minutesxblock")
		return
	case sms != "":
		// Custom configuration: only now do days and time_intervals count.
		var ok bool
		c.Custom = true
		if c.SMSPerBlock, ok = positive(sms); !ok {
			fail(CodeInvalidField, "smsxblock: entero positivo")
			return
		}
		if c.MinutesPerBlock, ok = positive(mins); !ok {
			fail(CodeInvalidField, "minutesxblock: entero positivo")
			return
		}
		if d := form.Get("days"); d != "" {
			if c.Days, ok = parseDays(d); !ok {
				fail(CodeInvalidField, "days: días de la semana 1-7 separados por comas, sin repetir")
				return
			}
		}
		if ti := form.Get("time_intervals"); ti != "" {
			if c.TimeIntervals, ok = parseIntervals(ti); !ok {
				fail(CodeInvalidField, "time_intervals: franjas hh:mm-hh:mm separadas por comas, inicio antes del fin")
				return
			}
		}
	}
	s.mu.Lock()
	s.nextID++
	c.ID = s.nextID
	s.campaigns = append(s.campaigns, c)
	s.mu.Unlock()
	// Invented shape: the documents do not show a campaign answer.
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"id": c.ID}})
}

func positive(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

func parseDays(s string) ([]int, bool) {
	var days []int
	for _, p := range strings.Split(s, ",") {
		d, err := strconv.Atoi(p)
		if err != nil || d < 1 || d > 7 || containsInt(days, d) || strings.TrimSpace(p) != p {
			return nil, false
		}
		days = append(days, d)
	}
	return days, true
}

func parseIntervals(s string) ([]string, bool) {
	parts := strings.Split(s, ",")
	for _, p := range parts {
		if !intervalRE.MatchString(p) {
			return nil, false
		}
		from, err1 := time.Parse("15:04", p[:5])
		to, err2 := time.Parse("15:04", p[6:])
		if err1 != nil || err2 != nil || !from.Before(to) {
			return nil, false
		}
	}
	return parts, true
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// missing returns the first of names absent or empty in form.
func missing(form url.Values, names ...string) string {
	for _, n := range names {
		if strings.TrimSpace(form.Get(n)) == "" {
			return n
		}
	}
	return ""
}

func (s *Server) seen(n int) {
	s.mu.Lock()
	if n > s.maxRcpt {
		s.maxRcpt = n
	}
	s.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
