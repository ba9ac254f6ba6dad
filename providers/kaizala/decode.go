package kaizala

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/token"
)

// errorBody is Kaizala's error envelope, e.g.
// {"message":"Token missing…","errorCode":"InvalidToken","errorCategoryKey":"AuthException"}.
type errorBody struct {
	Message     string `json:"message"`
	ErrorCode   string `json:"errorCode"`
	CategoryKey string `json:"errorCategoryKey"`
}

// parseErrorBody reads the envelope when there is one; any other body gives
// the zero value, so the status code alone decides.
func parseErrorBody(body []byte) errorBody {
	var e errorBody
	if json.Unmarshal(body, &e) != nil {
		return errorBody{}
	}
	e.Message = scrub(e.Message)
	e.ErrorCode = scrub(e.ErrorCode)
	e.CategoryKey = scrub(e.CategoryKey)
	return e
}

// decodeSend turns the answer to POST …/v1/groups/{id}/messages into a
// result or a classified error. A 308 never reaches here: post handles it.
func decodeSend(status int, h http.Header, body []byte, now time.Time) (providers.Result, error) {
	const op = "send"
	if status >= 200 && status < 300 {
		var ok struct {
			ReferenceID string `json:"referenceId"`
		}
		if err := json.Unmarshal(body, &ok); err != nil {
			return providers.Result{}, providers.Malformed(name, op, status, err)
		}
		if strings.TrimSpace(ok.ReferenceID) == "" {
			return providers.Result{}, providers.Malformed(name, op, status, errors.New("no referenceId in answer"))
		}
		return providers.Result{ProviderID: ok.ReferenceID}, nil
	}
	eb := parseErrorBody(body)
	fill := func(e *providers.Error) *providers.Error {
		e.Code, e.Message = eb.ErrorCode, eb.Message
		return e
	}
	if status == http.StatusUnauthorized {
		// The access token was refused: the token Source drops it, fetches
		// a new one and calls once more.
		return providers.Result{}, fill(&providers.Error{Class: providers.ClassAuth, Provider: name, Op: op,
			HTTPStatus: status, Err: token.ErrRejected})
	}
	if e := providers.StatusError(name, op, &http.Response{StatusCode: status, Header: h}, now); e != nil {
		return providers.Result{}, fill(e)
	}
	if status < 400 {
		return providers.Result{}, fill(&providers.Error{Class: providers.ClassRetryable, Provider: name, Op: op,
			HTTPStatus: status, Message: "unexpected answer"})
	}
	class := providers.ClassRequest
	if status == http.StatusBadRequest && aboutSubscriber(eb) {
		class = providers.ClassRecipient
	}
	return providers.Result{}, fill(&providers.Error{Class: class, Provider: name, Op: op, HTTPStatus: status})
}

// aboutSubscriber guesses whether a 400 blames a subscriber's number: the
// docs list no codes for it, so both the code and the text are consulted.
func aboutSubscriber(eb errorBody) bool {
	code := strings.ToLower(eb.ErrorCode)
	msg := strings.ToLower(eb.Message)
	for _, w := range []string{"subscriber", "mobilenumber", "phonenumber"} {
		if strings.Contains(code, w) {
			return true
		}
	}
	return strings.Contains(msg, "subscriber") || strings.Contains(msg, "mobile number") || strings.Contains(msg, "phone number")
}

// tokenAnswer is the token service's 200 body.
type tokenAnswer struct {
	AccessToken string `json:"accessToken"`
	EndpointURL string `json:"endpointUrl"`
	// AccessTokenExpiry is epoch milliseconds (the Swagger file's int32 is
	// wrong); json.Number also copes with "1.5e12" spellings.
	AccessTokenExpiry json.Number `json:"accessTokenExpiry"`
	// RefreshToken is empty until the refresh token nears its end of life;
	// then it carries the replacement.
	RefreshToken string `json:"refreshToken"`
	Scope        string `json:"scope"`
}

// decodeToken turns the answer to GET /accessToken into a token and the
// replacement refresh token ("" when none was issued).
func decodeToken(status int, h http.Header, body []byte, now time.Time) (token.Token, string, error) {
	const op = "token"
	if status != http.StatusOK {
		eb := parseErrorBody(body)
		e := providers.StatusError(name, op, &http.Response{StatusCode: status, Header: h}, now)
		switch {
		case e != nil:
		case status >= 400:
			// Any other refusal of the token call is a configuration problem
			// (credentials, base URL): retrying cannot fix it.
			e = &providers.Error{Class: providers.ClassAuth, Provider: name, Op: op, HTTPStatus: status}
		default:
			e = &providers.Error{Class: providers.ClassRetryable, Provider: name, Op: op, HTTPStatus: status,
				Message: "unexpected answer"}
		}
		if e.Message == "" {
			e.Message = eb.Message
		}
		e.Code = eb.ErrorCode
		return token.Token{}, "", e
	}
	var a tokenAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return token.Token{}, "", providers.Malformed(name, op, status, err)
	}
	if a.AccessToken == "" {
		return token.Token{}, "", providers.Malformed(name, op, status, errors.New("no accessToken in answer"))
	}
	ep, err := url.Parse(a.EndpointURL)
	if err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" {
		return token.Token{}, "", providers.Malformed(name, op, status, errors.New("endpointUrl is not an absolute URL"))
	}
	tok := token.Token{Value: a.AccessToken, Extra: map[string]string{extraEndpoint: a.EndpointURL}}
	if a.AccessTokenExpiry != "" {
		ms, err := epochMillis(a.AccessTokenExpiry)
		if err != nil {
			return token.Token{}, "", providers.Malformed(name, op, status, err)
		}
		if ms > 0 {
			tok.Expiry = time.UnixMilli(ms)
		}
	}
	return tok, a.RefreshToken, nil
}

func epochMillis(n json.Number) (int64, error) {
	if ms, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return ms, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	// Beyond ±2^62 ms (146 million years) the value is nonsense anyway.
	if err != nil || f != f || f > 1<<62 || f < -(1<<62) {
		return 0, errors.New("accessTokenExpiry is not epoch milliseconds")
	}
	return int64(f), nil
}

// scrub makes provider text safe to log: control characters go, long
// opaque words (tokens, secrets) are redacted, runs of six or more digits
// (phone numbers) keep only their last two, and the text is capped.
func scrub(s string) string {
	const maxLen = 200
	var b strings.Builder
	rs := []rune(s)
	for i := 0; i < len(rs); {
		if !wordRune(rs[i]) {
			if unicode.IsControl(rs[i]) {
				b.WriteRune(' ')
			} else {
				b.WriteRune(rs[i])
			}
			i++
			continue
		}
		j := i
		for j < len(rs) && wordRune(rs[j]) {
			j++
		}
		if j-i >= 24 {
			b.WriteString("[redacted]")
		} else {
			maskDigits(&b, rs[i:j])
		}
		i = j
	}
	out := strings.TrimSpace(b.String())
	if r := []rune(out); len(r) > maxLen {
		out = string(r[:maxLen]) + "…"
	}
	return out
}

// wordRune reports runes that may belong to a token or a phone number.
func wordRune(r rune) bool {
	return r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-+/=~", r))
}

func maskDigits(b *strings.Builder, rs []rune) {
	for i := 0; i < len(rs); {
		if rs[i] < '0' || rs[i] > '9' {
			b.WriteRune(rs[i])
			i++
			continue
		}
		j := i
		for j < len(rs) && rs[j] >= '0' && rs[j] <= '9' {
			j++
		}
		if j-i >= 6 {
			b.WriteString("…" + string(rs[j-2:j]))
		} else {
			b.WriteString(string(rs[i:j]))
		}
		i = j
	}
}
