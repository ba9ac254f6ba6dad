// Package keccel is a fake Keccel Service Manager (API v2) for tests and the
// demo. It serves /sms/v2/message.asp, /sms/v2/delivery.asp and
// /sms/v2/balance.asp as the real host does, checks the static API key and
// mandatory fields, answers in Keccel's JSON shapes, simulates delivery
// (pull, and push to a callback URL) and keeps a per-account SMS balance.
package keccel

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smsq/smsq/sandbox"
)

const (
	// DefaultToken is the API key the fake accepts when Options.Token is empty.
	DefaultToken = "keccel-sandbox-key"
	// DefaultFrom is a sender name the demo and tests may use; the fake
	// accepts any non-empty sender.
	DefaultFrom = "SMSQ"
	// DefaultBalance is the starting credit when Options.Balance is zero.
	DefaultBalance = 1000
	// Expiration is the account expiration balance.asp reports.
	Expiration = "31-Dec-2030 06:46:17"
	// FirstMessageID is the messageID of the first accepted SMS; later ones
	// count up from it.
	FirstMessageID = 1000001

	// BasePath is where the real service serves its endpoints; a client's
	// base URL is the fake's root followed by BasePath.
	BasePath     = "/sms/v2"
	messagePath  = BasePath + "/message.asp"
	deliveryPath = BasePath + "/delivery.asp"
	balancePath  = BasePath + "/balance.asp"
)

// Keccel's descriptions, reused by tests.
const (
	DescSubmitted          = "Message submitted to the network"
	DescInvalidToken       = "Invalid token"
	DescInvalidDestination = "Invalid destination number"
	DescInactive           = "Account inactive"
	DescNoBalance          = "Insufficient balance"
)

// Options configure the fake.
type Options struct {
	// Token is the API key accepted. Default: DefaultToken.
	Token string
	// Balance is the starting SMS credit, decremented per accepted SMS; a
	// send with no credit left is refused. Default: DefaultBalance.
	Balance int
	// Inactive makes the account inactive: sends are refused and
	// balance.asp reports status "inactive". Default: false (Active).
	Inactive bool
	// DeliverAfter is how long after acceptance a message reaches its final
	// state; before that delivery.asp reports PENDING. Pulls measure it with
	// Now, push callbacks with real timers. Default: 0 (final at once).
	DeliverAfter time.Duration
	// FailNumbers are destinations (any punctuation, "+" optional) whose
	// delivery ends FAILED. Default: none.
	FailNumbers []string
	// Fail, when set, also decides which destinations (Keccel's digits)
	// fail delivery. Default: nil.
	Fail func(to string) bool
	// CallbackURL receives push delivery reports, as Keccel calls the URL
	// registered with it; SetCallbackURL changes it at run time.
	// Default: "" (no pushes).
	CallbackURL string
	// CallbackClient sends the pushes. Default: a client with a 5s timeout.
	CallbackClient *http.Client
	// Track is how many of the latest messages delivery.asp remembers;
	// older ids answer ERROR, which bounds memory on long runs.
	// Default: 1,000,000.
	Track int
	// Now is the clock for acceptance times and delivery pulls.
	// Default: time.Now.
	Now func() time.Time
}

// Server is the fake. It is safe for concurrent use; Close stops its
// background callback delivery.
type Server struct {
	o         Options
	fail      map[string]bool
	cbClient  *http.Client
	ownClient bool
	faults    *sandbox.Injector
	rec       *sandbox.Recorder
	nextID    atomic.Int64

	mu          sync.Mutex
	balance     int
	msgs        map[string]sent
	callbackURL string
	pushes      *pusher
	closed      bool
}

type sent struct {
	to string
	at time.Time
}

var _ sandbox.Fake = (*Server)(nil)

// New returns a fake with o's settings.
func New(o Options) *Server {
	if o.Token == "" {
		o.Token = DefaultToken
	}
	if o.Balance == 0 {
		o.Balance = DefaultBalance
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Track <= 0 {
		o.Track = 1_000_000
	}
	s := &Server{
		o:           o,
		fail:        map[string]bool{},
		faults:      sandbox.NewInjector(),
		rec:         sandbox.NewRecorder(),
		balance:     o.Balance,
		msgs:        map[string]sent{},
		callbackURL: o.CallbackURL,
		cbClient:    o.CallbackClient,
	}
	if s.cbClient == nil {
		s.cbClient = &http.Client{Timeout: 5 * time.Second}
		s.ownClient = true
	}
	for _, n := range o.FailNumbers {
		s.fail[digits(n)] = true
	}
	s.nextID.Store(FirstMessageID)
	return s
}

// Name implements sandbox.Fake.
func (s *Server) Name() string { return "keccel" }

// Faults implements sandbox.Fake.
func (s *Server) Faults() *sandbox.Injector { return s.faults }

// Recorder implements sandbox.Fake.
func (s *Server) Recorder() *sandbox.Recorder { return s.rec }

// ExpireTokens implements sandbox.Fake. Keccel's key is static: nothing expires.
func (s *Server) ExpireTokens() {}

// SetCallbackURL switches push delivery reports to u; "" turns them off.
// Messages accepted while pushes are off never get one.
func (s *Server) SetCallbackURL(u string) {
	s.mu.Lock()
	s.callbackURL = u
	s.mu.Unlock()
}

// Close stops pending push deliveries and waits for those in flight. The
// HTTP endpoints keep working; later messages get no pushes.
func (s *Server) Close() error {
	s.mu.Lock()
	p := s.pushes
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return nil
	}
	if p != nil {
		p.stop()
	}
	if s.ownClient {
		s.cbClient.CloseIdleConnections()
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.rec.Capture(r)
	var h func(http.ResponseWriter, *http.Request)
	switch r.URL.Path {
	case messagePath:
		h = s.message
	case deliveryPath:
		h = s.delivery
	case balancePath:
		h = s.balanceCheck
	default:
		http.NotFound(w, r)
		return
	}
	if s.faults.Intercept(w, r) {
		return
	}
	h(w, r)
}

// message handles POST message.asp: one SMS to one destination.
func (s *Server) message(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reject(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	p, code, why := readParams(r, true)
	if why != "" {
		reject(w, code, why)
		return
	}
	token, from, to, text := p.get("token"), p.get("from"), p.get("to"), p.get("message")
	for _, f := range [][2]string{{"token", token}, {"from", from}, {"to", to}, {"message", text}} {
		if f[1] == "" {
			reject(w, http.StatusOK, "missing "+f[0]+" parameter")
			return
		}
	}
	if token != s.o.Token {
		reject(w, http.StatusOK, DescInvalidToken)
		return
	}
	if s.o.Inactive {
		reject(w, http.StatusOK, DescInactive)
		return
	}
	if !validNumber(to) || sandbox.Unreachable(to) {
		reject(w, http.StatusOK, DescInvalidDestination)
		return
	}

	now := s.o.Now()
	s.mu.Lock()
	if s.balance <= 0 {
		s.mu.Unlock()
		reject(w, http.StatusOK, DescNoBalance)
		return
	}
	s.balance--
	n := s.nextID.Add(1) - 1
	id := strconv.FormatInt(n, 10)
	s.msgs[id] = sent{to: to, at: now}
	delete(s.msgs, strconv.FormatInt(n-int64(s.o.Track), 10)) // ids are sequential: forget the oldest
	if s.callbackURL != "" && !s.closed {
		if s.pushes == nil {
			s.pushes = startPusher(s)
		}
		s.pushes.add(push{id: id, status: s.finalWord(to), due: time.Now().Add(s.o.DeliverAfter)})
	}
	s.mu.Unlock()

	s.rec.Accept(sandbox.Accepted{ID: id, To: to, From: from, Text: text, At: now})
	writeJSON(w, http.StatusOK, sendAnswer{Status: "SENT", MessageID: id, Description: DescSubmitted})
}

// delivery handles GET delivery.asp: the pull delivery report.
func (s *Server) delivery(w http.ResponseWriter, r *http.Request) {
	p, ok := s.getRequest(w, r)
	if !ok {
		return
	}
	id := p.get("messageid", "messageID")
	if id == "" {
		reject(w, http.StatusOK, "missing messageid parameter")
		return
	}
	s.mu.Lock()
	m, ok := s.msgs[id]
	s.mu.Unlock()
	status := "ERROR"
	if ok {
		status = "PENDING"
		if s.o.Now().Sub(m.at) >= s.o.DeliverAfter {
			status = s.finalWord(m.to)
		}
	}
	writeJSON(w, http.StatusOK, deliveryAnswer{MessageID: id, Status: status})
}

// balanceCheck handles GET balance.asp.
func (s *Server) balanceCheck(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.getRequest(w, r); !ok {
		return
	}
	s.mu.Lock()
	bal := s.balance
	s.mu.Unlock()
	status := "Active"
	if s.o.Inactive {
		status = "inactive"
	}
	writeJSON(w, http.StatusOK, balanceAnswer{Balance: strconv.Itoa(bal), Expiration: Expiration, Status: status})
}

// authorised checks the fields delivery.asp and balance.asp share and
// answers the refusal itself.
// getRequest checks what every GET endpoint needs (the method, readable
// parameters, the account token), answering the refusal itself; ok is
// false when it did.
func (s *Server) getRequest(w http.ResponseWriter, r *http.Request) (params, bool) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		reject(w, http.StatusMethodNotAllowed, "Method not allowed")
		return params{}, false
	}
	p, code, why := readParams(r, false)
	if why != "" {
		reject(w, code, why)
		return params{}, false
	}
	return p, s.authorised(w, p)
}

func (s *Server) authorised(w http.ResponseWriter, p params) bool {
	token, from := p.get("token"), p.get("from")
	switch {
	case token == "":
		reject(w, http.StatusOK, "missing token parameter")
	case from == "":
		reject(w, http.StatusOK, "missing from parameter")
	case token != s.o.Token:
		reject(w, http.StatusOK, DescInvalidToken)
	default:
		return true
	}
	return false
}

func (s *Server) finalWord(to string) string {
	if s.fail[to] || (s.o.Fail != nil && s.o.Fail(to)) {
		return "FAILED"
	}
	return "DELIVERED"
}

type sendAnswer struct {
	Status      string `json:"status"`
	MessageID   string `json:"messageID"`
	Description string `json:"description"`
}

type deliveryAnswer struct {
	MessageID string `json:"messageid"`
	Status    string `json:"status"`
}

type balanceAnswer struct {
	Balance    string `json:"balance"`
	Expiration string `json:"expiration"`
	Status     string `json:"status"`
}

// reject answers Keccel's refusal envelope; Keccel reports refusals with
// HTTP 200, other codes are the fake's own for protocol misuse.
func reject(w http.ResponseWriter, code int, description string) {
	writeJSON(w, code, sendAnswer{Status: "REJECTED", MessageID: "", Description: description})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// validNumber is Keccel's wire format: country code and number, digits
// only, no "+".
func validNumber(to string) bool {
	if len(to) < 7 || len(to) > 15 {
		return false
	}
	for i := 0; i < len(to); i++ {
		if to[i] < '0' || to[i] > '9' {
			return false
		}
	}
	return true
}

func digits(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// push is one delivery report due at a callback URL.
type push struct {
	id, status string
	due        time.Time
}

// pusher delivers push reports in the background, a few at a time.
type pusher struct {
	s      *Server
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	queue []push // in due order: every push waits the same DeliverAfter
}

const (
	pushWorkers  = 8
	pushAttempts = 4
	pushBackoff  = 50 * time.Millisecond
)

func startPusher(s *Server) *pusher {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pusher{s: s, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1)}
	p.wg.Add(1)
	go p.run()
	return p
}

func (p *pusher) add(x push) {
	p.mu.Lock()
	p.queue = append(p.queue, x)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pusher) stop() {
	p.cancel()
	p.wg.Wait()
}

func (p *pusher) run() {
	defer p.wg.Done()
	slots := make(chan struct{}, pushWorkers)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		var next *push
		wait := time.Duration(-1)
		if len(p.queue) > 0 {
			if wait = time.Until(p.queue[0].due); wait <= 0 {
				x := p.queue[0]
				p.queue = p.queue[1:]
				next = &x
			}
		}
		p.mu.Unlock()

		if next != nil {
			select {
			case slots <- struct{}{}:
			case <-p.ctx.Done():
				return
			}
			p.wg.Add(1)
			go func(x push) {
				defer p.wg.Done()
				defer func() { <-slots }()
				p.deliver(x)
			}(*next)
			continue
		}

		var due <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			due = timer.C
		}
		select {
		case <-p.ctx.Done():
			return
		case <-p.wake:
		case <-due:
		}
	}
}

// deliver sends one report, retrying a refused or failed call a few times
// with a growing pause, as a gateway would.
func (p *pusher) deliver(x push) {
	for attempt := 0; attempt < pushAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(pushBackoff << (attempt - 1)):
			}
		}
		p.s.mu.Lock()
		base := p.s.callbackURL
		p.s.mu.Unlock()
		if base == "" {
			return // switched off meanwhile
		}
		if p.try(callbackURL(base, x)) {
			return
		}
	}
}

func (p *pusher) try(u string) bool {
	req, err := http.NewRequestWithContext(p.ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	resp, err := p.s.cbClient.Do(req)
	if err != nil {
		return false
	}
	drainClose(resp)
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// callbackURL appends Keccel's two parameters to the registered URL, which
// may already carry a query of its own.
func callbackURL(base string, x push) string {
	sep := "?"
	for i := 0; i < len(base); i++ {
		if base[i] == '?' {
			sep = "&"
			if last := base[len(base)-1]; last == '?' || last == '&' {
				sep = ""
			}
			break
		}
	}
	return base + sep + "messageID=" + x.id + "&status=" + x.status
}

func drainClose(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
}
