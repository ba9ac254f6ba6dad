package sakari

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/smsq/smsq/providers"
)

// EventMessageStatus is the subscription type for delivery updates.
const EventMessageStatus = "message-status"

// listPage is the page size used to list webhooks (Sakari's maximum).
const listPage = 100

// maxListPages stops a listing whose pagination never ends.
const maxListPages = 1000

// Webhook is one subscription on the account.
type Webhook struct {
	// ID is Sakari's id for the subscription; only newer API versions
	// return one.
	ID string
	// URL is where events are posted.
	URL string
	// EventTypes are the subscribed events, e.g. "message-status".
	EventTypes []string
}

// wireWebhook accepts both documented shapes: {url, eventTypes} (the spec)
// and {id, type, eventTypes, destination} (newer docs).
type wireWebhook struct {
	ID          flexString      `json:"id"`
	URL         string          `json:"url"`
	CallbackURL string          `json:"callbackUrl"`
	Destination json.RawMessage `json:"destination"`
	EventTypes  []string        `json:"eventTypes"`
}

func (w wireWebhook) webhook() Webhook {
	h := Webhook{ID: string(w.ID), URL: w.URL, EventTypes: w.EventTypes}
	if h.URL == "" {
		h.URL = w.CallbackURL
	}
	if h.URL == "" && len(w.Destination) > 0 {
		var s string
		if json.Unmarshal(w.Destination, &s) == nil {
			h.URL = s
		} else {
			var d struct {
				URL string `json:"url"`
			}
			if json.Unmarshal(w.Destination, &d) == nil {
				h.URL = d.URL
			}
		}
	}
	return h
}

type subscribeRequest struct {
	URL        string   `json:"url"`
	EventTypes []string `json:"eventTypes"`
}

// Subscribe asks Sakari to post the given events (default: message-status)
// to callbackURL.
func (c *Client) Subscribe(ctx context.Context, callbackURL string, eventTypes []string) (Webhook, error) {
	const op = "subscribe"
	if !absoluteHTTP(callbackURL) {
		return Webhook{}, providers.Errorf(providers.ClassRequest, Name, op, "callback url must be an absolute http(s) URL")
	}
	if len(eventTypes) == 0 {
		eventTypes = []string{EventMessageStatus}
	}
	status, body, err := c.call(ctx, op, http.MethodPost, c.accountURL("webhooks"), subscribeRequest{URL: callbackURL, EventTypes: eventTypes})
	if err != nil {
		return Webhook{}, err
	}
	var r struct {
		envelope
		Data *wireWebhook `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return Webhook{}, providers.Malformed(Name, op, status, err)
	}
	if r.failed() {
		return Webhook{}, refusalError(op, status, r.Error)
	}
	h := Webhook{URL: callbackURL, EventTypes: eventTypes}
	if r.Data != nil {
		got := r.Data.webhook()
		h.ID = got.ID
		if got.URL != "" {
			h.URL = got.URL
		}
		if len(got.EventTypes) > 0 {
			h.EventTypes = got.EventTypes
		}
	}
	return h, nil
}

type pagination struct {
	Offset     *int  `json:"offset"`
	Limit      *int  `json:"limit"`
	TotalCount *int  `json:"totalCount"`
	HasNext    *bool `json:"hasNext"`
}

// ListWebhooks returns every subscription, following pagination.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	const op = "webhooks"
	var out []Webhook
	offset := 0
	for page := 0; page < maxListPages; page++ {
		q := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(listPage)}}
		status, body, err := c.call(ctx, op, http.MethodGet, c.accountURL("webhooks")+"?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		var r struct {
			envelope
			Pagination *pagination   `json:"pagination"`
			Data       []wireWebhook `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, providers.Malformed(Name, op, status, err)
		}
		if r.failed() {
			return nil, refusalError(op, status, r.Error)
		}
		for _, w := range r.Data {
			out = append(out, w.webhook())
		}
		offset += len(r.Data)
		p := r.Pagination
		switch {
		case len(r.Data) == 0 || p == nil:
			return out, nil
		case p.HasNext != nil:
			if !*p.HasNext {
				return out, nil
			}
		case p.TotalCount == nil || offset >= *p.TotalCount:
			return out, nil
		}
	}
	return nil, providers.Errorf(providers.ClassRetryable, Name, op, "pagination did not end after %d pages", maxListPages)
}

// Unsubscribe removes the subscription for callbackURL. Sakari answers 204.
func (c *Client) Unsubscribe(ctx context.Context, callbackURL string) error {
	const op = "unsubscribe"
	if callbackURL == "" {
		return providers.Errorf(providers.ClassRequest, Name, op, "callback url required")
	}
	_, _, err := c.call(ctx, op, http.MethodDelete, c.accountURL("webhooks", url.PathEscape(callbackURL)), nil)
	return err
}

func refusalError(op string, status int, e *apiError) error {
	if e == nil {
		e = &apiError{}
	}
	return &providers.Error{Class: classify(e.Code, status), Provider: Name, Op: op, HTTPStatus: status,
		Code: e.Code, Message: redact(e.text())}
}

func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

type wireEvent struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type eventData struct {
	ID     flexString `json:"id"`
	Status flexString `json:"status"`
	Error  *apiError  `json:"error"`
	// Message is the text in the spec, a whole Message object in the
	// official SDK's sample.
	Message json.RawMessage `json:"message"`
}

// ParseEvent reads a webhook body. For a message-status event it returns
// the delivery report and true. Other event types, and status events that
// carry no message id (the spec's payload has none; the caller then polls),
// give false and no error. Only a body that is not JSON is an error.
func ParseEvent(body []byte) (providers.DeliveryReport, bool, error) {
	var ev wireEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return providers.DeliveryReport{}, false, malformedEvent(err)
	}
	if !strings.EqualFold(strings.ReplaceAll(ev.Type, "-", ""), "messageStatus") {
		return providers.DeliveryReport{}, false, nil
	}
	var d eventData
	if len(ev.Data) > 0 {
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return providers.DeliveryReport{}, false, malformedEvent(err)
		}
	}
	id, status, perr := string(d.ID), string(d.Status), d.Error
	if m := bytes.TrimSpace(d.Message); len(m) > 0 && m[0] == '{' {
		var inner wireMessage
		if err := json.Unmarshal(m, &inner); err != nil {
			return providers.DeliveryReport{}, false, malformedEvent(err)
		}
		if id == "" {
			id = string(inner.ID)
		}
		if status == "" {
			status = string(inner.Status)
		}
		if perr == nil {
			perr = inner.Error
		}
	}
	if id == "" {
		return providers.DeliveryReport{}, false, nil
	}
	return report(id, status, perr), true, nil
}

func malformedEvent(err error) error {
	return &providers.Error{Class: providers.ClassRequest, Provider: Name, Op: "event", Message: "malformed event", Err: err}
}
