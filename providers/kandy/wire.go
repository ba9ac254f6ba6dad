package kandy

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/token"
)

// Kandy status codes. 1, 3, 701 and 710 are documented (for the chat
// endpoints); the SMS, key and device codes are not, and the values below
// are the ones smsq's sandbox uses in their place (see sandbox/kandy).
const (
	codeOK                 = 0
	codeInternal           = 1
	codeMissingParameters  = 3
	codeUserNotFound       = 701
	codeInvalidFormat      = 710
	codeInvalidKey         = 900 // sandbox choice
	codeDeviceNotFound     = 901 // sandbox choice
	codeInvalidDestination = 902 // sandbox choice
)

// envelope is Kandy's answer: {"status": <int>, "message": "…", "result": {…}}.
type envelope struct {
	Status  statusCode      `json:"status"`
	Message string          `json:"message"`
	Result  json.RawMessage `json:"result"`
}

// statusCode reads `status` as a JSON integer or, leniently, a string
// holding one ("0"). A missing status is an error: without it a body
// cannot be told apart from a proxy's page.
type statusCode struct {
	set  bool
	code int
}

func (s *statusCode) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(str))
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return errors.New("status is not an integer")
	}
	s.set, s.code = true, n
	return nil
}

func decodeEnvelope(raw []byte) (envelope, error) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return envelope{}, err
	}
	if !env.Status.set {
		return envelope{}, errors.New("no status in answer")
	}
	return env, nil
}

// decodeResult decodes a success envelope's result object.
func decodeResult(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return errors.New("no result in answer")
	}
	return json.Unmarshal(raw, v)
}

// interpret turns one HTTP answer into a success envelope or a classified
// *providers.Error. Kandy reports most failures as HTTP 200 with a non-zero
// status, so the envelope decides whatever the HTTP code.
func interpret(op string, httpStatus int, header http.Header, raw []byte, now time.Time, sc scrubber) (envelope, error) {
	env, derr := decodeEnvelope(raw)
	if e := providers.StatusError(name, op, &http.Response{StatusCode: httpStatus, Header: header}, now); e != nil {
		if derr == nil {
			e.Code, e.Message = codeString(env.Status.code), sc.clean(env.Message)
		}
		if e.Class == providers.ClassAuth && op == opSend {
			// The UAT (or the device cached with it) was refused: let
			// token.Source fetch both again, once.
			e.Err = token.ErrRejected
		}
		return envelope{}, e
	}
	if httpStatus == http.StatusUpgradeRequired {
		return envelope{}, &providers.Error{Class: providers.ClassRequest, Provider: name, Op: op, HTTPStatus: httpStatus,
			Message: "API upgrade required: base_url names a retired API version"}
	}
	ok2xx := httpStatus >= 200 && httpStatus < 300
	if derr != nil {
		if ok2xx {
			return envelope{}, providers.Malformed(name, op, httpStatus, derr)
		}
		msg := "unexpected HTTP status"
		if httpStatus >= 300 && httpStatus < 400 {
			msg = "unexpected redirect: check base_url"
		}
		return envelope{}, &providers.Error{Class: providers.ClassRequest, Provider: name, Op: op, HTTPStatus: httpStatus, Message: msg}
	}
	if env.Status.code != codeOK {
		return envelope{}, statusError(op, httpStatus, env.Status.code, sc.clean(env.Message))
	}
	if !ok2xx {
		return envelope{}, &providers.Error{Class: providers.ClassRequest, Provider: name, Op: op, HTTPStatus: httpStatus,
			Message: "unexpected HTTP status with a success envelope"}
	}
	return env, nil
}

// statusError maps a non-zero Kandy status to an error class.
func statusError(op string, httpStatus, code int, msg string) *providers.Error {
	e := &providers.Error{Class: providers.ClassRequest, Provider: name, Op: op, HTTPStatus: httpStatus, Code: codeString(code), Message: msg}
	switch code {
	case codeInternal:
		e.Class = providers.ClassRetryable
	case codeMissingParameters, codeInvalidFormat:
		e.Class = providers.ClassRequest
	case codeUserNotFound, codeInvalidKey:
		e.Class = providers.ClassAuth
		if op == opSend {
			e.Err = token.ErrRejected
		}
	case codeDeviceNotFound:
		// The cached device is gone: fetching the token again looks the
		// device up again. With a pinned device this fails twice and stays
		// a configuration error.
		e.Class = providers.ClassRequest
		if op == opSend {
			e.Err = token.ErrRejected
		}
	case codeInvalidDestination:
		e.Class = providers.ClassRecipient
	default:
		// Kandy's SMS codes are undocumented: a message that blames the
		// destination is taken at its word, anything else is a bad request.
		if l := strings.ToLower(msg); strings.Contains(l, "destination") || strings.Contains(l, "recipient") {
			e.Class = providers.ClassRecipient
		}
	}
	if e.Message == "" {
		e.Message = "status " + e.Code
	}
	return e
}

func codeString(code int) string {
	if code == codeOK {
		return ""
	}
	return strconv.Itoa(code)
}

// scrubber removes secrets and phone numbers from provider messages before
// they reach an error string.
type scrubber []string

// phoneLike matches runs of digits long enough to be a phone number.
var phoneLike = regexp.MustCompile(`\+?[0-9][0-9 .\-]{4,}[0-9]`)

const maxMessage = 200

func (s scrubber) clean(msg string) string {
	for _, secret := range s {
		if len(secret) >= 4 {
			msg = strings.ReplaceAll(msg, secret, "***")
		}
	}
	msg = phoneLike.ReplaceAllStringFunc(msg, maskDigits)
	msg = strings.TrimSpace(msg)
	if len(msg) > maxMessage {
		msg = strings.ToValidUTF8(msg[:maxMessage], "") + "…"
	}
	return msg
}

// maskDigits keeps the last two digits of a number-like run.
func maskDigits(run string) string {
	digits := 0
	for i := 0; i < len(run); i++ {
		if run[i] >= '0' && run[i] <= '9' {
			digits++
		}
	}
	if digits < 6 {
		return run
	}
	return "***" + run[len(run)-2:]
}

// wireNumber checks an E.164 number (leading "+" optional) and returns it
// the way it is sent to Kandy: "+" and digits. Kandy specifies no format;
// its examples show both forms and E.164 with "+" is the unambiguous one.
func wireNumber(s string) (string, bool) {
	d := strings.TrimPrefix(strings.TrimSpace(s), "+")
	if len(d) < 7 || len(d) > 15 || d[0] == '0' {
		return "", false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return "", false
		}
	}
	return "+" + d, true
}
