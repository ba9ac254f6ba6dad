package conectaline

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smsq/smsq/providers/token"
)

var (
	errNoData  = errors.New(`answer has no "data" member`)
	errNoToken = errors.New("login answer has no token")
)

// envelope is every Conectaline answer: "data" on success, "error" on
// failure.
type envelope struct {
	Data  json.RawMessage `json:"data"`
	Error json.RawMessage `json:"error"`
}

func decodeEnvelope(body []byte) (envelope, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return envelope{}, err
	}
	return env, nil
}

// present reports whether a member was sent with a non-null value.
func present(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// apiError is the "error" member. The documents show both an object with
// "code" and "message" and a bare string; both are read.
type apiError struct {
	Code    string
	Message string
}

func decodeAPIError(raw json.RawMessage) apiError {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return apiError{Message: cleanText(s)}
	}
	var o struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(raw, &o) != nil {
		return apiError{}
	}
	msg, ok := scalar(o.Message)
	if !ok && present(o.Message) {
		// e.g. a map of field errors: keep it readable rather than lose it.
		msg = string(o.Message)
	}
	code, _ := scalar(o.Code)
	return apiError{Code: cleanText(code), Message: cleanText(msg)}
}

// recipientError reports whether a refusal is about the destination number:
// the sandbox's "invalid_number" code, or, since the real codes are not
// documented, a message that names a number and calls it invalid (in
// Spanish or English).
func recipientError(ae apiError) bool {
	if strings.EqualFold(ae.Code, "invalid_number") {
		return true
	}
	m := foldAccents(strings.ToLower(ae.Message))
	return containsAny(m, "numero", "number", "telefono", "phone", "destinatario", "recipient") &&
		containsAny(m, "invalid", "no valido", "no es valido", "no valida", "incorrect", "unreachable",
			"inalcanzable", "not valid", "erroneo")
}

func containsAny(s string, words ...string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

var accents = strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ü", "u")

func foldAccents(s string) string { return accents.Replace(s) }

// cleanText makes a provider's text safe to log: long digit runs (phone
// numbers) are masked and the length is bounded.
func cleanText(s string) string {
	const maxLen = 300
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	var b strings.Builder
	run := 0
	flush := func(end int) {
		digits := s[end-run : end]
		if run >= 7 {
			b.WriteString(digits[:2] + "…" + digits[run-2:])
		} else {
			b.WriteString(digits)
		}
		run = 0
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			run++
			continue
		}
		if run > 0 {
			flush(i)
		}
		b.WriteByte(s[i])
	}
	if run > 0 {
		flush(len(s))
	}
	out := b.String()
	if len(out) > maxLen {
		cut := maxLen
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	return out
}

// scalar reads a JSON string or number as text.
func scalar(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	}
	var n json.Number
	if (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) && json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	return "", false
}

// answer is what smsq uses of a push's "data" member, whose contents are
// undocumented: an "id" if there is one, and the numbers the sandbox lists
// as "rejected" when a call mixes good and bad numbers.
type answer struct {
	id       string
	rejected map[string]bool
}

func decodeAnswer(data json.RawMessage) answer {
	var o map[string]json.RawMessage
	if json.Unmarshal(data, &o) != nil {
		return answer{} // not an object: nothing to learn from it
	}
	var a answer
	a.id, _ = scalar(o["id"])
	var list []json.RawMessage
	if json.Unmarshal(o["rejected"], &list) == nil {
		for _, r := range list {
			if n, ok := scalar(r); ok {
				if a.rejected == nil {
					a.rejected = map[string]bool{}
				}
				a.rejected[strings.TrimPrefix(n, "+")] = true
			}
		}
	}
	return a
}

// decodeLogin reads a /login answer. The documents disagree on its shape:
// the PHP samples read data.token, the Python ones a top-level token, so
// data.* is read first and the top level second. The expiry comes from
// expires_in (seconds) when given, else from expires_at.
func decodeLogin(body []byte, now time.Time) (token.Token, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return token.Token{}, err
	}
	fields := top
	var inner map[string]json.RawMessage
	if json.Unmarshal(top["data"], &inner) == nil {
		if v, ok := scalar(inner["token"]); ok && v != "" {
			fields = inner
		}
	}
	value, ok := scalar(fields["token"])
	if !ok || value == "" {
		return token.Token{}, errNoToken
	}
	tok := token.Token{Value: value}
	if secs, ok := number(fields["expires_in"]); ok && secs > 0 {
		tok.Expiry = now.Add(time.Duration(math.Min(secs, 1e9) * float64(time.Second)))
	} else if at, ok := parseExpiresAt(fields["expires_at"]); ok {
		tok.Expiry = at
	}
	if !tok.Expiry.IsZero() && !tok.Expiry.After(now) {
		// An expiry already past (clock skew, a zone we guessed wrong) would
		// make every call log in again; use the token until it is refused.
		tok.Expiry = time.Time{}
	}
	return tok, nil
}

// number reads a JSON number or a numeric string.
func number(raw json.RawMessage) (float64, bool) {
	s, ok := scalar(raw)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// expiresAtLayouts are the forms expires_at is read in; its format is
// undocumented. Times without a zone are taken as UTC: a wrong guess only
// costs one refused call, after which the token is fetched again.
var expiresAtLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
}

func parseExpiresAt(raw json.RawMessage) (time.Time, bool) {
	s, ok := scalar(raw)
	if !ok {
		return time.Time{}, false
	}
	s = strings.TrimSpace(s)
	for _, layout := range expiresAtLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	epoch, err := strconv.ParseFloat(s, 64)
	if err != nil || epoch <= 0 || math.IsInf(epoch, 0) || epoch > 1e15 {
		return time.Time{}, false
	}
	if epoch > 1e11 {
		epoch /= 1000 // milliseconds
	}
	sec, frac := math.Modf(epoch)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
