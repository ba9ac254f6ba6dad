package keccel

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/smsq/smsq/mask"
	"github.com/smsq/smsq/providers"
)

// answer is every field any Keccel endpoint answers with. encoding/json
// matches keys case-insensitively, which covers delivery.asp's "messageid"
// next to message.asp's "messageID".
type answer struct {
	Status      flexString `json:"status"`
	MessageID   flexString `json:"messageID"`
	Description flexString `json:"description"`
	Balance     flexString `json:"balance"`
	Expiration  flexString `json:"expiration"`
}

// flexString takes a JSON string, number or boolean as text: Keccel sends
// the balance as a number in its docs and as a string in production.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case b[0] == '{' || b[0] == '[':
		return errors.New("expected a string or a number")
	default: // number or boolean literal, already validated by the decoder
		*f = flexString(b)
	}
	return nil
}

func (f flexString) trim() string { return strings.TrimSpace(string(f)) }

func decodeEnvelope(body []byte) (answer, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // classic ASP may prepend a BOM
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return answer{}, errors.New("empty body")
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return answer{}, err
	}
	return a, nil
}

func decodeSend(status int, body []byte, secret string) (providers.Result, error) {
	const op = "send"
	a, err := decodeEnvelope(body)
	if err != nil {
		return providers.Result{}, undecodable(op, status, err)
	}
	raw := a.Status.trim()
	switch strings.ToUpper(raw) {
	case "SENT":
		// Even on an odd HTTP status: the message is out, and calling it a
		// failure would send it twice.
		return providers.Result{ProviderID: a.MessageID.trim(), Status: raw}, nil
	case "REJECTED":
		return providers.Result{}, rejection(op, status, a.Description.trim(), secret)
	case "":
		return providers.Result{}, undecodable(op, status, errors.New("answer has no status"))
	}
	if !is2xx(status) {
		return providers.Result{}, unexpectedStatus(op, status)
	}
	// A word we do not know may hide an accepted message or a refusal;
	// retrying is the choice that loses nothing.
	return providers.Result{}, &providers.Error{Class: providers.ClassRetryable, Provider: name, Op: op,
		HTTPStatus: status, Code: cleanText(raw, secret), Message: "unrecognised send status"}
}

func decodeDelivery(status int, body []byte, id, secret string) (providers.DeliveryReport, error) {
	const op = "status"
	a, err := decodeEnvelope(body)
	if err != nil {
		return providers.DeliveryReport{}, undecodable(op, status, err)
	}
	raw := a.Status.trim()
	word := strings.ToUpper(raw)
	switch {
	case word == "REJECTED":
		return providers.DeliveryReport{}, rejection(op, status, a.Description.trim(), secret)
	case word == "":
		return providers.DeliveryReport{}, undecodable(op, status, errors.New("answer has no status"))
	case !is2xx(status):
		return providers.DeliveryReport{}, unexpectedStatus(op, status)
	}
	if echo := a.MessageID.trim(); echo != "" && echo != id {
		return providers.DeliveryReport{}, providers.Malformed(name, op, status, errors.New("answer is for another message id"))
	}
	rep := providers.DeliveryReport{ProviderID: id, Raw: cleanText(raw, secret), Reason: cleanText(a.Description.trim(), secret)}
	switch word {
	case "DELIVERED":
		rep.State = providers.DeliveryDelivered
	case "FAILED":
		rep.State = providers.DeliveryFailed
	case "ERROR":
		// Keccel's answer for an id it does not know (or not any more).
		rep.State = providers.DeliveryUnknown
	default:
		rep.State = providers.DeliveryPending
	}
	return rep, nil
}

// decodeBalance also returns the raw expiration so the caller can log one
// it could not read.
func decodeBalance(status int, body []byte, secret string) (providers.Balance, string, error) {
	const op = "balance"
	a, err := decodeEnvelope(body)
	if err != nil {
		return providers.Balance{}, "", undecodable(op, status, err)
	}
	acct := a.Status.trim()
	if strings.EqualFold(acct, "REJECTED") {
		return providers.Balance{}, "", rejection(op, status, a.Description.trim(), secret)
	}
	if !is2xx(status) {
		return providers.Balance{}, "", unexpectedStatus(op, status)
	}
	amt := a.Balance.trim()
	if amt == "" {
		return providers.Balance{}, "", providers.Malformed(name, op, status, errors.New("answer has no balance"))
	}
	f, perr := strconv.ParseFloat(amt, 64)
	if perr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return providers.Balance{}, "", providers.Malformed(name, op, status, errors.New("balance is not a number"))
	}
	bal := providers.Balance{Amount: f, Unit: "credits", Status: strings.ToLower(cleanText(acct, secret))}
	exp := a.Expiration.trim()
	if exp != "" {
		bal.Expires = parseExpiration(exp)
	}
	return bal, exp, nil
}

// kinshasa is the zone assumed for Keccel's expiration dates, which carry
// none: Kinshasa time (UTC+1, no daylight saving).
var kinshasa = time.FixedZone("WAT", 60*60)

var expirationLayouts = []string{
	"2-Jan-2006 15:04:05", // documented: 31-Dec-2021 06:46:17
	"2-Jan-2006 15:04",
	"2-Jan-2006",
	"2006-01-02 15:04:05",
	time.RFC3339,
}

// parseExpiration reads Keccel's DD-Mon-YYYY HH:MM:SS (month names in any
// case) and a few near variants; the zero time means unreadable.
func parseExpiration(s string) time.Time {
	for _, l := range expirationLayouts {
		if t, err := time.ParseInLocation(l, s, kinshasa); err == nil {
			return t
		}
	}
	return time.Time{}
}

// rejection turns a Keccel REJECTED answer into an error whose class
// follows the description, the only reason Keccel gives.
func rejection(op string, status int, desc, secret string) error {
	msg := cleanText(desc, secret)
	if msg == "" {
		msg = "rejected without a reason"
	}
	return &providers.Error{Class: rejectionClass(desc), Provider: name, Op: op, HTTPStatus: status, Code: "REJECTED", Message: msg}
}

func rejectionClass(desc string) providers.Class {
	d := strings.ToLower(desc)
	switch {
	case containsAny(d, "token", "auth", "key", "credential"):
		// A static key: no refresh can fix it, so it is final.
		return providers.ClassAuth
	case strings.Contains(d, "missing"):
		return providers.ClassRequest
	case containsAny(d, "number", "destination", "recipient", "msisdn", "phone"):
		return providers.ClassRecipient
	}
	// Missing fields, inactive or expired account, no credit: the request
	// cannot succeed as it is.
	return providers.ClassRequest
}

func containsAny(s string, words ...string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func is2xx(status int) bool { return status >= 200 && status < 300 }

// undecodable is the error for an answer that is not a Keccel envelope: on
// a 2xx a malformed body (retryable), otherwise the HTTP status decides.
func undecodable(op string, status int, err error) error {
	if is2xx(status) {
		return providers.Malformed(name, op, status, err)
	}
	return unexpectedStatus(op, status)
}

// unexpectedStatus classifies the HTTP statuses StatusError leaves to the
// adapter when no Keccel envelope explains them.
func unexpectedStatus(op string, status int) error {
	e := &providers.Error{Class: providers.ClassRequest, Provider: name, Op: op, HTTPStatus: status, Message: "unexpected HTTP status"}
	switch {
	case status == http.StatusRequestTimeout:
		e.Class = providers.ClassRetryable
	case status >= 300 && status < 400:
		e.Message = "unexpected redirect (check base_url)"
	}
	return e
}

// wireNumber turns smsq's E.164 ("+243851234567") into Keccel's digits
// ("243851234567").
func wireNumber(e164 string) (string, error) {
	d := strings.TrimPrefix(strings.TrimSpace(e164), "+")
	ok := len(d) >= 7 && len(d) <= 15
	for i := 0; ok && i < len(d); i++ {
		ok = d[i] >= '0' && d[i] <= '9'
	}
	if !ok {
		return "", providers.Errorf(providers.ClassRecipient, name, "send", "destination is not an E.164 number")
	}
	return d, nil
}

// cleanText makes provider text safe to log: the API key is removed, phone
// numbers are masked the smsq way (package mask), control characters become
// spaces and the length is capped.
func cleanText(s, secret string) string {
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	s = mask.Text(strings.ToValidUTF8(s, "?"))
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n++; n > 200 {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) {
			r = ' '
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}
