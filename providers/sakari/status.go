package sakari

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/smsq/smsq/providers"
)

type messageResponse struct {
	envelope
	Data *wireMessage `json:"data"`
}

// decodeMessage reads the answer to a message fetch.
func decodeMessage(body []byte) (*wireMessage, *apiError, error) {
	var r messageResponse
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

// Status implements providers.StatusPoller with a message fetch. An id
// Sakari does not know (404) is DeliveryUnknown, not an error.
func (c *Client) Status(ctx context.Context, providerID string) (providers.DeliveryReport, error) {
	const op = "status"
	if providerID == "" {
		return providers.DeliveryReport{}, providers.Errorf(providers.ClassRequest, Name, op, "empty message id")
	}
	status, body, err := c.call(ctx, op, http.MethodGet, c.accountURL("messages", url.PathEscape(providerID)), nil)
	if err != nil {
		var pe *providers.Error
		// A 404 for the account itself (ACCT-008) is configuration, not an
		// unknown message.
		if errors.As(err, &pe) && pe.HTTPStatus == http.StatusNotFound && !strings.HasPrefix(pe.Code, "ACCT-") {
			return providers.DeliveryReport{ProviderID: providerID, State: providers.DeliveryUnknown}, nil
		}
		return providers.DeliveryReport{}, err
	}
	m, refusal, err := decodeMessage(body)
	switch {
	case err != nil:
		return providers.DeliveryReport{}, providers.Malformed(Name, op, status, err)
	case refusal != nil:
		return providers.DeliveryReport{}, &providers.Error{Class: classify(refusal.Code, status), Provider: Name, Op: op,
			HTTPStatus: status, Code: refusal.Code, Message: redact(refusal.text())}
	}
	id := string(m.ID)
	if id == "" {
		id = providerID
	}
	return report(id, string(m.Status), m.Error), nil
}

// report folds a Sakari status word into smsq's vocabulary.
func report(id, raw string, e *apiError) providers.DeliveryReport {
	r := providers.DeliveryReport{ProviderID: id, Raw: raw, State: deliveryState(raw)}
	if r.State == providers.DeliveryFailed && e != nil {
		r.Reason = e.Code
		if r.Reason == "" {
			r.Reason = redact(e.text())
		}
	}
	return r
}

func deliveryState(raw string) providers.DeliveryState {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "delivered":
		return providers.DeliveryDelivered
	case "error", "undelivered", "invalid":
		return providers.DeliveryFailed
	case "received":
		// An inbound message: nothing we sent, and it will never change.
		return providers.DeliveryUnknown
	default:
		// new, validated, queued, sent, and any word Sakari adds later:
		// not final, ask again.
		return providers.DeliveryPending
	}
}

type accountResponse struct {
	envelope
	Data *struct {
		Balance json.RawMessage `json:"balance"`
	} `json:"data"`
}

// Balance implements providers.BalanceChecker with the account fetch.
func (c *Client) Balance(ctx context.Context) (providers.Balance, error) {
	const op = "balance"
	status, body, err := c.call(ctx, op, http.MethodGet, c.accountURL(), nil)
	if err != nil {
		return providers.Balance{}, err
	}
	amount, refusal, err := decodeBalance(body)
	switch {
	case err != nil:
		return providers.Balance{}, providers.Malformed(Name, op, status, err)
	case refusal != nil:
		return providers.Balance{}, &providers.Error{Class: classify(refusal.Code, status), Provider: Name, Op: op,
			HTTPStatus: status, Code: refusal.Code, Message: redact(refusal.text())}
	}
	return providers.Balance{Amount: amount}, nil
}

// decodeBalance reads data.balance, a number (a numeric string is taken too).
func decodeBalance(body []byte) (float64, *apiError, error) {
	var r accountResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, nil, err
	}
	if r.failed() {
		if r.Error == nil {
			r.Error = &apiError{}
		}
		return 0, r.Error, nil
	}
	if r.Data == nil || len(r.Data.Balance) == 0 || string(r.Data.Balance) == "null" {
		return 0, nil, errors.New("no balance in answer")
	}
	v, err := strconv.ParseFloat(string(bytes.Trim(r.Data.Balance, `"`)), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, nil, errors.New("balance is not a number")
	}
	return v, nil, nil
}
