package sakari

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

const eventMessageStatus = "message-status"

// eventTypes are the subscription types the spec lists.
var eventTypes = map[string]bool{
	"message-received": true, "message-sent": true, "message-status": true,
	"conversation-started": true, "conversation-closed": true,
	"contact-created": true, "contact-updated": true, "contact-removed": true,
	"contact-opt-out": true, "contact-opt-in": true, "list-opt-out": true, "list-opt-in": true,
}

type subscription struct {
	URL        string   `json:"url"`
	EventTypes []string `json:"eventTypes"`
}

func (s subscription) wants(t string) bool {
	for _, e := range s.EventTypes {
		if e == t {
			return true
		}
	}
	return false
}

// subscribedLocked reports whether any subscription wants t. Callers hold s.mu.
func (s *Server) subscribedLocked(t string) bool {
	for _, sub := range s.subs {
		if sub.wants(t) {
			return true
		}
	}
	return false
}

// subscribe serves POST /v1/accounts/{id}/webhooks.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	if !jsonBody(w, r) {
		return
	}
	var req struct {
		URL         string   `json:"url"`
		CallbackURL string   `json:"callbackUrl"` // the spec's required list names it so
		EventTypes  []string `json:"eventTypes"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "REQ-001", "Request body is not valid JSON")
		return
	}
	if req.URL == "" {
		req.URL = req.CallbackURL
	}
	if u, err := url.Parse(req.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fail(w, http.StatusBadRequest, "REQ-005", "url must be an absolute http(s) URL")
		return
	}
	if len(req.EventTypes) == 0 {
		req.EventTypes = []string{eventMessageStatus}
	}
	for _, t := range req.EventTypes {
		if !eventTypes[t] {
			fail(w, http.StatusBadRequest, "REQ-005", "Unknown event type")
			return
		}
	}
	sub := subscription{URL: req.URL, EventTypes: append([]string(nil), req.EventTypes...)}
	s.mu.Lock()
	replaced := false
	for i := range s.subs {
		if s.subs[i].URL == sub.URL {
			s.subs[i], replaced = sub, true
		}
	}
	if !replaced {
		s.subs = append(s.subs, sub)
	}
	s.mu.Unlock()
	reply(w, http.StatusOK, map[string]any{"success": true, "data": sub})
}

// listHooks serves GET /v1/accounts/{id}/webhooks, oldest first.
func (s *Server) listHooks(w http.ResponseWriter, r *http.Request) {
	offset, limit, ok := paging(w, r.URL.Query())
	if !ok {
		return
	}
	s.mu.Lock()
	lo, hi := window(len(s.subs), offset, limit)
	data := append([]subscription{}, s.subs[lo:hi]...)
	total := len(s.subs)
	s.mu.Unlock()
	reply(w, http.StatusOK, map[string]any{"success": true, "data": data,
		"pagination": pageInfo{Offset: offset, Limit: limit, TotalCount: total, HasNext: hi < total}})
}

// unsubscribe serves DELETE /v1/accounts/{id}/webhooks/{url-encoded url}.
func (s *Server) unsubscribe(w http.ResponseWriter, escaped string) {
	target, err := url.PathUnescape(escaped)
	if err != nil {
		fail(w, http.StatusBadRequest, "REQ-005", "Malformed webhook url")
		return
	}
	s.mu.Lock()
	found := false
	for i := range s.subs {
		if s.subs[i].URL == target {
			s.subs = append(s.subs[:i], s.subs[i+1:]...)
			found = true
			break
		}
	}
	s.mu.Unlock()
	if !found {
		fail(w, http.StatusNotFound, "REQ-008", "Webhook not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Subscriptions returns the current webhook subscriptions (for tests).
func (s *Server) Subscriptions() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]string, len(s.subs))
	for _, sub := range s.subs {
		out[sub.URL] = append([]string(nil), sub.EventTypes...)
	}
	return out
}

type hookEvent struct {
	AccountID string   `json:"accountId"`
	EventID   string   `json:"eventId"`
	Type      string   `json:"type"`
	Data      hookData `json:"data"`
}

type hookData struct {
	ID           string      `json:"id"`
	Status       string      `json:"status"`
	Message      string      `json:"message"`
	Contact      wireContact `json:"contact"`
	Conversation wireRef     `json:"conversation"`
	Error        *string     `json:"error"`
}

// event builds the final-status event of message id and the URLs it goes
// to, as things stand when it fires.
func (s *Server) event(id string) ([]byte, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[id]
	if !ok {
		return nil, nil
	}
	var targets []string
	for _, sub := range s.subs {
		if sub.wants(eventMessageStatus) {
			targets = append(targets, sub.URL)
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	ev := hookEvent{AccountID: s.o.AccountID, EventID: newID(time.Now()), Type: "messageStatus", Data: hookData{
		ID: m.id, Status: m.final, Message: m.text,
		Contact:      wireContact{ID: m.contactID, Mobile: wireMobile{Number: m.number}},
		Conversation: wireRef{ID: m.convID},
	}}
	if m.errCode != "" {
		code := m.errCode
		ev.Data.Error = &code
	}
	b, _ := json.Marshal(ev)
	return b, targets
}

// dispatcher posts webhook events when they fall due, from one scheduling
// goroutine and a few posting workers, started on first use.
type dispatcher struct {
	client   *http.Client
	owned    bool // client is ours: close its idle connections on close
	attempts int
	build    func(id string) ([]byte, []string)

	mu      sync.Mutex
	due     dueHeap
	started bool
	closed  bool
	wake    chan struct{}
	jobs    chan string
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

const hookWorkers = 4

func newDispatcher(c *http.Client, owned bool, attempts int, build func(string) ([]byte, []string)) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &dispatcher{client: c, owned: owned, attempts: attempts, build: build,
		wake: make(chan struct{}, 1), jobs: make(chan string), ctx: ctx, cancel: cancel}
}

// schedule queues events for message ids at the wall-clock time at.
func (d *dispatcher) schedule(at time.Time, ids ...string) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	for _, id := range ids {
		heap.Push(&d.due, dueEvent{at: at, id: id})
	}
	if !d.started {
		d.started = true
		d.wg.Add(1 + hookWorkers)
		go d.loop()
		for i := 0; i < hookWorkers; i++ {
			go d.work()
		}
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
	if d.owned {
		d.client.CloseIdleConnections()
	}
}

func (d *dispatcher) loop() {
	defer d.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		var next *dueEvent
		if len(d.due) > 0 {
			next = &d.due[0]
		}
		if next != nil && !next.at.After(time.Now()) {
			ev := heap.Pop(&d.due).(dueEvent)
			d.mu.Unlock()
			select {
			case d.jobs <- ev.id:
			case <-d.ctx.Done():
				return
			}
			continue
		}
		wait := time.Hour
		if next != nil {
			wait = time.Until(next.at)
		}
		d.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-d.ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (d *dispatcher) work() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case id := <-d.jobs:
			body, targets := d.build(id)
			for _, t := range targets {
				d.post(t, body)
			}
		}
	}
}

// post delivers one event, retrying a few times with a growing pause.
func (d *dispatcher) post(target string, body []byte) {
	pause := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := d.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				return
			}
		}
		if attempt >= d.attempts {
			return
		}
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(pause):
		}
		pause *= 2
	}
}

type dueEvent struct {
	at time.Time
	id string
}

type dueHeap []dueEvent

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueEvent)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
