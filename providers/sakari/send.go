package sakari

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/smsq/smsq/providers"
)

// flexString decodes a JSON string or number (ids and numbers have been
// seen both ways in Sakari material) and ignores anything else, so an odd
// field never makes an accepted send look failed.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*f = flexString(b)
	}
	return nil
}

type mobile struct {
	Number flexString `json:"number"`
}

type contactRequest struct {
	Mobile struct {
		Number string `json:"number"`
	} `json:"mobile"`
}

type sendRequest struct {
	Contacts []contactRequest `json:"contacts"`
	Template string           `json:"template"`
	Type     string           `json:"type"`
}

type wireContact struct {
	ID     flexString `json:"id"`
	Mobile *mobile    `json:"mobile"`
}

func (c *wireContact) number() string {
	if c == nil || c.Mobile == nil {
		return ""
	}
	return string(c.Mobile.Number)
}

// wireMessage is the part of Sakari's Message object the adapter reads.
type wireMessage struct {
	ID      flexString   `json:"id"`
	Status  flexString   `json:"status"`
	Contact *wireContact `json:"contact"`
	Error   *apiError    `json:"error"`
}

// invalidContact is an entry of data.invalid: a Contact plus its error.
type invalidContact struct {
	wireContact
	Error *apiError `json:"error"`
}

type sendData struct {
	Messages []wireMessage    `json:"messages"`
	JobID    flexString       `json:"jobId"`
	Invalid  []invalidContact `json:"invalid"`
}

type sendResponse struct {
	envelope
	Data *sendData `json:"data"`
}

// decodeSend reads a 2xx answer to a send call.
func decodeSend(body []byte) (*sendData, *apiError, error) {
	var r sendResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, nil, err
	}
	if r.failed() {
		if r.Error == nil {
			r.Error = &apiError{}
		}
		return nil, r.Error, nil
	}
	if r.Data == nil {
		return nil, nil, errors.New("no data in answer")
	}
	return r.Data, nil, nil
}

// Send implements providers.Sender: a batch of one. A destination Sakari
// lists as invalid is returned as the error.
func (c *Client) Send(ctx context.Context, m providers.Message) (providers.Result, error) {
	res, err := c.SendBatch(ctx, []providers.Message{m})
	if err != nil {
		return providers.Result{}, err
	}
	if res[0].Err != nil {
		return providers.Result{}, res[0].Err
	}
	return res[0].Result, nil
}

// batch is one SendBatch in progress.
type batch struct {
	ms       []providers.Message
	out      []providers.BatchResult
	settled  []bool
	accepted int
}

// SendBatch implements providers.BatchSender. Messages with the same text
// share one call (Sakari sends one template to many contacts); no call
// carries more than MaxBatch contacts or the same number twice. Results are
// in input order; destinations Sakari refuses get a ClassRecipient error.
func (c *Client) SendBatch(ctx context.Context, ms []providers.Message) ([]providers.BatchResult, error) {
	b := &batch{ms: ms, out: make([]providers.BatchResult, len(ms)), settled: make([]bool, len(ms))}
	var ready []int
	for i, m := range ms {
		if err := checkMessage(m); err != nil {
			b.out[i].Err, b.settled[i] = err, true
			continue
		}
		ready = append(ready, i)
	}
	calls := planCalls(ms, ready, c.maxBatch)
	for k, idx := range calls {
		err := c.sendCall(ctx, b, idx)
		if err == nil {
			continue
		}
		if b.accepted == 0 {
			return nil, err
		}
		// Earlier calls were accepted, so the batch as a whole cannot fail:
		// whatever is left carries this call's error.
		for _, rest := range calls[k:] {
			for _, i := range rest {
				if !b.settled[i] {
					b.out[i].Err, b.settled[i] = err, true
				}
			}
		}
		break
	}
	return b.out, nil
}

func checkMessage(m providers.Message) error {
	if !isE164(m.To) {
		return &providers.Error{Class: providers.ClassRecipient, Provider: Name, Op: "send",
			Message: "destination is not an E.164 number"}
	}
	if m.Text == "" {
		return &providers.Error{Class: providers.ClassRequest, Provider: Name, Op: "send", Message: "empty text"}
	}
	return nil
}

func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// planCalls groups message indices by text, in order of first appearance,
// and cuts each group into calls of at most max contacts with no number
// repeated inside a call (answers are matched back by number).
func planCalls(ms []providers.Message, idx []int, max int) [][]int {
	type group struct {
		calls [][]int
		seen  []map[string]bool
	}
	var order []string
	groups := map[string]*group{}
	for _, i := range idx {
		g := groups[ms[i].Text]
		if g == nil {
			g = &group{}
			groups[ms[i].Text] = g
			order = append(order, ms[i].Text)
		}
		placed := false
		for k := range g.calls {
			if len(g.calls[k]) < max && !g.seen[k][ms[i].To] {
				g.calls[k] = append(g.calls[k], i)
				g.seen[k][ms[i].To] = true
				placed = true
				break
			}
		}
		if !placed {
			g.calls = append(g.calls, []int{i})
			g.seen = append(g.seen, map[string]bool{ms[i].To: true})
		}
	}
	var calls [][]int
	for _, text := range order {
		calls = append(calls, groups[text].calls...)
	}
	return calls
}

// sendCall sends one call and settles its messages. It returns an error
// only for a failure of the whole call.
func (c *Client) sendCall(ctx context.Context, b *batch, idx []int) error {
	req := sendRequest{Template: b.ms[idx[0]].Text, Type: "SMS", Contacts: make([]contactRequest, len(idx))}
	for k, i := range idx {
		req.Contacts[k].Mobile.Number = b.ms[i].To
	}
	status, body, err := c.call(ctx, "send", http.MethodPost, c.accountURL("messages"), req)
	if err == nil {
		var data *sendData
		var refusal *apiError
		data, refusal, err = decodeSend(body)
		switch {
		case err != nil:
			return providers.Malformed(Name, "send", status, err)
		case refusal != nil:
			err = &providers.Error{Class: classify(refusal.Code, status), Provider: Name, Op: "send",
				HTTPStatus: status, Code: refusal.Code, Message: redact(refusal.text())}
		default:
			b.settle(idx, data)
			return nil
		}
	}
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Class != providers.ClassRecipient {
		return err
	}
	if len(idx) == 1 {
		b.out[idx[0]].Err, b.settled[idx[0]] = err, true
		return nil
	}
	// Sakari refused the whole call over a contact without naming it (when
	// some contacts are valid it lists the bad ones in data.invalid). Halve
	// and resend until each refused contact stands alone, so one bad number
	// never costs the others their message.
	h := len(idx) / 2
	if err := c.sendCall(ctx, b, idx[:h]); err != nil {
		return err
	}
	return c.sendCall(ctx, b, idx[h:])
}

// settle matches an accepted call's answer back to its messages by number.
func (b *batch) settle(idx []int, data *sendData) {
	byNumber := make(map[string]int, len(idx))
	for _, i := range idx {
		byNumber[digits(b.ms[i].To)] = i
	}
	done := make(map[int]bool, len(idx))
	var loose []wireMessage
	for _, m := range data.Messages {
		i, ok := byNumber[digits(m.Contact.number())]
		if !ok || done[i] {
			loose = append(loose, m)
			continue
		}
		done[i] = true
		b.out[i] = messageResult(m)
	}
	for _, inv := range data.Invalid {
		i, ok := byNumber[digits(inv.number())]
		if !ok || done[i] {
			continue
		}
		done[i] = true
		b.out[i].Err = recipientError(inv.Error)
	}
	var left []int
	for _, i := range idx {
		if !done[i] {
			left = append(left, i)
		}
	}
	// Numbers echoed in another format (national, spaced) cannot be matched;
	// when the counts agree the answer is taken to be in request order.
	if len(loose) > 0 && len(loose) == len(left) {
		for k, i := range left {
			b.out[i] = messageResult(loose[k])
		}
	}
	// Anything still unmatched was neither refused nor described: Sakari
	// took it (the call succeeded) but gave no id to follow it by.
	for _, i := range idx {
		b.settled[i] = true
		if b.out[i].Err == nil {
			b.accepted++
		}
	}
}

func messageResult(m wireMessage) providers.BatchResult {
	if m.Error != nil && strings.HasPrefix(m.Error.Code, "CONT-") {
		return providers.BatchResult{Err: recipientError(m.Error)}
	}
	return providers.BatchResult{Result: providers.Result{ProviderID: string(m.ID), Status: string(m.Status)}}
}

func recipientError(e *apiError) error {
	pe := &providers.Error{Class: providers.ClassRecipient, Provider: Name, Op: "send", HTTPStatus: http.StatusOK}
	if e != nil {
		pe.Code, pe.Message = e.Code, redact(e.text())
	}
	if pe.Message == "" {
		pe.Message = "contact refused"
	}
	return pe
}

// digits keeps only the digits of a number, for matching "+1 555…" with
// "1555…".
func digits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
