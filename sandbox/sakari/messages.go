package sakari

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/smsq/smsq/sandbox"
)

// message is one accepted outgoing message.
type message struct {
	id, jobID, number, text string
	contactID, convID       string
	created                 time.Time
	final                   string // delivered, undelivered or error
	errCode, errDesc        string
	segments                int
}

// statusAt is the message's status at now: queued, then sent from half of
// DeliverAfter, then its final status.
func (s *Server) statusAt(m *message, now time.Time) string {
	age := now.Sub(m.created)
	switch {
	case age >= s.o.DeliverAfter:
		return m.final
	case age >= s.o.DeliverAfter/2:
		return "sent"
	}
	return "queued"
}

type wireMobile struct {
	Number string `json:"number"`
}

type wireContact struct {
	ID     string     `json:"id,omitempty"`
	Mobile wireMobile `json:"mobile"`
}

type wireError struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

type wireRef struct {
	ID string `json:"id"`
}

type wireStamp struct {
	At string   `json:"at"`
	By *wireRef `json:"by,omitempty"`
}

// wireMessage is Sakari's Message object.
type wireMessage struct {
	ID           string      `json:"id"`
	Status       string      `json:"status"`
	Message      string      `json:"message"`
	Template     string      `json:"template"`
	Type         string      `json:"type"`
	Outgoing     bool        `json:"outgoing"`
	PhoneNumber  string      `json:"phoneNumber"`
	Price        float64     `json:"price"`
	Segments     int         `json:"segments"`
	Read         bool        `json:"read"`
	Contact      wireContact `json:"contact"`
	Conversation wireRef     `json:"conversation"`
	Job          wireRef     `json:"job"`
	Created      wireStamp   `json:"created"`
	Updated      wireStamp   `json:"updated"`
	Error        *wireError  `json:"error"`
}

func (s *Server) wire(m *message, now time.Time) wireMessage {
	st := s.statusAt(m, now)
	w := wireMessage{
		ID: m.id, Status: st, Message: m.text, Template: m.text, Type: "SMS", Outgoing: true,
		PhoneNumber: SenderNumber, Price: Price, Segments: m.segments,
		Contact:      wireContact{ID: m.contactID, Mobile: wireMobile{Number: m.number}},
		Conversation: wireRef{ID: m.convID}, Job: wireRef{ID: m.jobID},
		Created: wireStamp{At: m.created.UTC().Format(time.RFC3339)},
		Updated: wireStamp{At: m.created.UTC().Format(time.RFC3339)},
	}
	if st == m.final && m.errCode != "" {
		w.Error = &wireError{Code: m.errCode, Description: m.errDesc}
	}
	return w
}

type sendRequest struct {
	Contacts []struct {
		ID     string `json:"id"`
		Mobile *struct {
			Number  string `json:"number"`
			Country string `json:"country"`
		} `json:"mobile"`
	} `json:"contacts"`
	Conversations []json.RawMessage `json:"conversations"`
	Filters       json.RawMessage   `json:"filters"`
	Template      *string           `json:"template"`
	Type          string            `json:"type"`
	Media         []json.RawMessage `json:"media"`
}

type invalidContact struct {
	Mobile wireMobile `json:"mobile"`
	Error  wireError  `json:"error"`
}

type sendData struct {
	Messages       []wireMessage    `json:"messages"`
	JobID          string           `json:"jobId"`
	Requested      int              `json:"requested"`
	Valid          int              `json:"valid"`
	Invalid        []invalidContact `json:"invalid"`
	EstimatedPrice float64          `json:"estimatedPrice"`
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{5,14}$`)

// send serves POST /v1/accounts/{id}/messages.
func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	if !jsonBody(w, r) {
		return
	}
	var req sendRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "REQ-001", "Request body is not valid JSON")
		return
	}
	switch {
	case req.Template == nil || *req.Template == "":
		fail(w, http.StatusBadRequest, "REQ-005", "template is required")
		return
	case req.Type != "" && req.Type != "SMS":
		fail(w, http.StatusBadRequest, "REQ-005", "The sandbox sends type SMS only")
		return
	case len(req.Conversations) > 0 || len(req.Filters) > 0 && string(req.Filters) != "null" || len(req.Media) > 0:
		fail(w, http.StatusBadRequest, "REQ-005", "The sandbox sends to contacts only")
		return
	case len(req.Contacts) == 0:
		fail(w, http.StatusBadRequest, "REQ-005", "contacts is required")
		return
	case s.o.MaxContacts > 0 && len(req.Contacts) > s.o.MaxContacts:
		fail(w, http.StatusBadRequest, "REQ-006", "Too many contacts in one request, the limit is "+strconv.Itoa(s.o.MaxContacts))
		return
	case utf8.RuneCountInString(*req.Template) > s.o.MaxLength:
		fail(w, http.StatusBadRequest, "MSG-007", "Message too long")
		return
	}
	text := *req.Template
	var valid []string
	var invalid []invalidContact
	seen := map[string]bool{}
	for _, c := range req.Contacts {
		n := ""
		if c.Mobile != nil {
			n = c.Mobile.Number
		}
		switch {
		case !e164.MatchString(n) || sandbox.Unreachable(n):
			invalid = append(invalid, invalidContact{Mobile: wireMobile{Number: n},
				Error: wireError{Code: "CONT-001", Description: "Invalid mobile number"}})
		case s.optout[n]:
			invalid = append(invalid, invalidContact{Mobile: wireMobile{Number: n},
				Error: wireError{Code: "CONT-010", Description: "Contact has opted out"}})
		case !seen[n]:
			// A contact is one per number: a repeat gets no second message.
			seen[n] = true
			valid = append(valid, n)
		}
	}
	if len(valid) == 0 {
		fail(w, http.StatusBadRequest, invalid[0].Error.Code, invalid[0].Error.Description)
		return
	}

	now := s.o.Now()
	segs := segments(text)
	s.mu.Lock()
	cost := Price * float64(len(valid))
	if cost > s.balance+1e-9 {
		s.mu.Unlock()
		fail(w, http.StatusPaymentRequired, "ACCT-006", "Insufficient credit")
		return
	}
	s.balance -= cost
	job := newID(now)
	out := sendData{JobID: job, Requested: len(req.Contacts), Valid: len(valid), Invalid: invalid,
		EstimatedPrice: cost, Messages: make([]wireMessage, 0, len(valid))}
	acc := make([]sandbox.Accepted, 0, len(valid))
	ids := make([]string, 0, len(valid))
	for _, n := range valid {
		m := &message{id: newID(now), jobID: job, number: n, text: text, created: now, final: "delivered", segments: segs}
		m.contactID, m.convID = s.contactFor(n, now)
		if s.fail[n] {
			m.final = s.o.FailStatus
			m.errCode, m.errDesc = "MSG-019", "Message undelivered"
			if m.final == "error" {
				m.errCode, m.errDesc = "MSG-033", "Carrier failure"
			}
		}
		s.msgs[m.id] = m
		s.order = append(s.order, m)
		out.Messages = append(out.Messages, s.wire(m, now))
		acc = append(acc, sandbox.Accepted{ID: m.id, To: n, From: SenderNumber, Text: text, At: now})
		ids = append(ids, m.id)
	}
	hooked := s.subscribedLocked(eventMessageStatus)
	s.mu.Unlock()

	s.rec.Accept(acc...)
	if hooked {
		s.hooks.schedule(time.Now().Add(s.o.DeliverAfter), ids...)
	}
	reply(w, http.StatusOK, map[string]any{"success": true, "data": out})
}

// contactFor returns the contact and conversation ids of a number, creating
// them on first use. Callers hold s.mu.
func (s *Server) contactFor(n string, now time.Time) (string, string) {
	c, ok := s.contacts[n]
	if !ok {
		c = newID(now)
		s.contacts[n] = c
		s.convs[n] = newID(now)
	}
	return c, s.convs[n]
}

// segments counts SMS parts: 160/153 characters in GSM-7 (approximated as
// printable ASCII), 70/67 otherwise.
func segments(text string) int {
	single, multi := 160, 153
	for _, r := range text {
		if r > 0x7e || (r < 0x20 && r != '\n' && r != '\r') {
			single, multi = 70, 67
			break
		}
	}
	n := utf8.RuneCountInString(text)
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}

// fetchMessage serves GET /v1/accounts/{id}/messages/{messageId}.
func (s *Server) fetchMessage(w http.ResponseWriter, escapedID string) {
	id, _ := url.PathUnescape(escapedID)
	now := s.o.Now()
	s.mu.Lock()
	m, ok := s.msgs[id]
	var out wireMessage
	if ok {
		out = s.wire(m, now)
	}
	s.mu.Unlock()
	if !ok {
		fail(w, http.StatusNotFound, "REQ-008", "Message not found")
		return
	}
	reply(w, http.StatusOK, map[string]any{"success": true, "data": out})
}

type pageInfo struct {
	Offset     int  `json:"offset"`
	Limit      int  `json:"limit"`
	TotalCount int  `json:"totalCount"`
	HasNext    bool `json:"hasNext"`
}

// paging reads offset (≥ 0, default 0) and limit (1..100, default 10).
func paging(w http.ResponseWriter, q url.Values) (offset, limit int, ok bool) {
	offset, limit = 0, 10
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail(w, http.StatusBadRequest, "REQ-007", "offset must be a number of at least 0")
			return 0, 0, false
		}
		offset = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			fail(w, http.StatusBadRequest, "REQ-007", "limit must be between 1 and 100")
			return 0, 0, false
		}
		limit = n
	}
	return offset, limit, true
}

func window(total, offset, limit int) (lo, hi int) {
	lo = min(offset, total)
	hi = min(lo+limit, total)
	return lo, hi
}

// listMessages serves GET /v1/accounts/{id}/messages, newest first.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit, ok := paging(w, q)
	if !ok {
		return
	}
	contactID, convID := q.Get("contactId"), q.Get("conversationId")
	now := s.o.Now()
	s.mu.Lock()
	var match []*message
	for i := len(s.order) - 1; i >= 0; i-- {
		m := s.order[i]
		if (contactID == "" || m.contactID == contactID) && (convID == "" || m.convID == convID) {
			match = append(match, m)
		}
	}
	lo, hi := window(len(match), offset, limit)
	data := make([]wireMessage, 0, hi-lo)
	for _, m := range match[lo:hi] {
		data = append(data, s.wire(m, now))
	}
	s.mu.Unlock()
	reply(w, http.StatusOK, map[string]any{"success": true, "data": data,
		"pagination": pageInfo{Offset: offset, Limit: limit, TotalCount: len(match), HasNext: hi < len(match)}})
}

// account serves GET /v1/accounts/{id}.
func (s *Server) account(w http.ResponseWriter) {
	s.mu.Lock()
	bal := s.balance
	s.mu.Unlock()
	reply(w, http.StatusOK, map[string]any{"success": true, "data": map[string]any{
		"id": s.o.AccountID, "name": "Sandbox account", "balance": bal,
		"plan": map[string]any{"name": "sandbox"},
	}})
}
