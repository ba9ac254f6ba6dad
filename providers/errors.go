package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Class says what the caller should do about a failed provider call.
type Class int

const (
	// ClassRetryable: the provider or the network failed (5xx, timeout,
	// reset, malformed answer). Try again later with back-off.
	ClassRetryable Class = iota + 1
	// ClassRateLimited: the provider asked us to slow down (429). Not a
	// failure: wait RetryAfter (or back off) and try again.
	ClassRateLimited
	// ClassAuth: credentials were refused even after a fresh token. Fix the
	// configuration; retrying will not help.
	ClassAuth
	// ClassRecipient: this destination can never receive the message
	// (invalid or opted-out number). Do not retry.
	ClassRecipient
	// ClassRequest: the request itself is wrong (missing field, too long,
	// unknown group, no credit). Do not retry as is.
	ClassRequest
)

func (c Class) String() string {
	switch c {
	case ClassRetryable:
		return "retryable"
	case ClassRateLimited:
		return "rate_limited"
	case ClassAuth:
		return "auth"
	case ClassRecipient:
		return "recipient"
	case ClassRequest:
		return "request"
	}
	return "unknown"
}

// Permanent reports whether retrying the same message cannot succeed.
func (c Class) Permanent() bool { return c == ClassAuth || c == ClassRecipient || c == ClassRequest }

type classSentinel struct {
	class Class
	msg   string
}

func (s *classSentinel) Error() string { return s.msg }

// Sentinels to match with errors.Is. Every *Error matches exactly one.
var (
	ErrRetryable        error = &classSentinel{ClassRetryable, "provider temporarily unavailable"}
	ErrRateLimited      error = &classSentinel{ClassRateLimited, "provider rate limit reached"}
	ErrAuth             error = &classSentinel{ClassAuth, "provider refused the credentials"}
	ErrInvalidRecipient error = &classSentinel{ClassRecipient, "recipient cannot receive this message"}
	ErrPermanent        error = &classSentinel{ClassRequest, "provider rejected the request"}
)

// Error is the error every adapter returns for a failed call.
type Error struct {
	Class    Class
	Provider string // "keccel", …
	Op       string // "send", "token", "status", "balance", …
	// HTTPStatus is the HTTP status code, 0 for transport failures.
	HTTPStatus int
	// Code is the provider's own error code when it sent one ("CONT-001").
	Code string
	// Message is the provider's own explanation, safe to log (no secrets).
	Message string
	// RetryAfter is how long the provider asked us to wait (ClassRateLimited
	// only); zero when it did not say.
	RetryAfter time.Duration
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Provider)
	if e.Op != "" {
		b.WriteString(" " + e.Op)
	}
	b.WriteString(": " + e.Class.String())
	if e.HTTPStatus != 0 {
		b.WriteString(" (HTTP " + strconv.Itoa(e.HTTPStatus) + ")")
	}
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		b.WriteString(", retry after " + e.RetryAfter.String())
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the class sentinels.
func (e *Error) Is(target error) bool {
	s, ok := target.(*classSentinel)
	return ok && s.class == e.Class
}

// ClassOf returns the class of err: that of the *Error in its chain, or
// ClassRetryable for anything else (an unclassified failure is assumed
// transient so that nothing is dropped).
func ClassOf(err error) Class {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Class
	}
	return ClassRetryable
}

// RetryAfterOf returns the wait a rate-limited error asked for, or 0.
func RetryAfterOf(err error) time.Duration {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.RetryAfter
	}
	return 0
}

// TransportError classifies a failure to get an HTTP answer at all:
// timeouts, refused or reset connections are retryable. A cancelled caller
// context is returned as is, so callers can tell shutdown from failure.
func TransportError(provider, op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &Error{Class: ClassRetryable, Provider: provider, Op: op, Message: transportReason(err), Err: redactURL(err)}
}

func transportReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	}
	return "transport error"
}

// redactURL drops the query string from a *url.Error: some providers (Kandy)
// carry keys in the query, and net/http puts the whole URL in its errors.
func redactURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u := ue.URL
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i] + "?…"
	}
	return &url.Error{Op: ue.Op, URL: u, Err: ue.Err}
}

// StatusError classifies an HTTP answer by status code alone, for the
// statuses whose meaning does not depend on the provider: 429 (with its
// Retry-After), 5xx, 401/403. It returns nil for any other status so the
// adapter can decode the provider's own envelope.
func StatusError(provider, op string, resp *http.Response, now time.Time) *Error {
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &Error{Class: ClassRateLimited, Provider: provider, Op: op, HTTPStatus: resp.StatusCode,
			RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), now)}
	case resp.StatusCode >= 500:
		return &Error{Class: ClassRetryable, Provider: provider, Op: op, HTTPStatus: resp.StatusCode}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return &Error{Class: ClassAuth, Provider: provider, Op: op, HTTPStatus: resp.StatusCode}
	}
	return nil
}

// Malformed is the error for an answer that could not be decoded. It is
// retryable: a proxy or a half-written body is the usual cause.
func Malformed(provider, op string, status int, err error) error {
	return &Error{Class: ClassRetryable, Provider: provider, Op: op, HTTPStatus: status, Message: "malformed response", Err: err}
}

// maxRetryAfter caps what a provider may ask for: a day is already an
// outage, and larger values would overflow a Duration.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 when the header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > maxRetryAfter.Seconds() {
			return maxRetryAfter
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// Errorf builds an *Error with a formatted message.
func Errorf(class Class, provider, op string, format string, args ...any) *Error {
	return &Error{Class: class, Provider: provider, Op: op, Message: fmt.Sprintf(format, args...)}
}
