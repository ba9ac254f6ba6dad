package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries a callback's signature:
//
//	X-Smsq-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
//
// The timestamp is signed with the body so that a captured request cannot
// be replayed later than the receiver's tolerance.
const SignatureHeader = "X-Smsq-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors returned by Verify, matched with errors.Is.
var (
	// ErrNoSignature: the header is empty or has no t= or v1= part.
	ErrNoSignature = errors.New("events: signature header missing or malformed")
	// ErrBadSignature: no v1= value matches the body and timestamp.
	ErrBadSignature = errors.New("events: signature does not match")
	// ErrStale: the timestamp is further from now than the tolerance.
	ErrStale = errors.New("events: signature timestamp outside tolerance")
)

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a callback: header is the X-Smsq-Signature value, body
// the raw request body (read it before decoding). tolerance bounds the
// clock difference; zero means DefaultTolerance. Several v1= values are
// accepted (any may match), so a sender can sign with an old and a new
// secret while they are rotated.
func Verify(secret, header string, body []byte, tolerance time.Duration) error {
	return VerifyAt(secret, header, body, tolerance, time.Now())
}

// VerifyAt is Verify with the receiver's clock reading given.
func VerifyAt(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrNoSignature
	}
	want := []byte(mac(secret, ts, body))
	ok := false
	for _, s := range sigs {
		// hmac.Equal compares in constant time; keep checking all values
		// so the time taken does not say which one matched.
		ok = hmac.Equal(want, []byte(s)) || ok
	}
	if !ok {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
