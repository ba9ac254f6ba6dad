// Package sms holds the message rules that the CLI, the HTTP API and
// campaign import share, so that all three accept and reject exactly the
// same input: phone number normalisation, GSM-7/UCS-2 segment counting,
// text and sender validation.
//
// Every validation error is a *FieldError naming the field ("to", "text",
// "from") with a reason an operator can act on. Error messages never carry
// a full phone number.
package sms

import "errors"

// Sentinels to match with errors.Is; each *FieldError wraps exactly one.
var (
	ErrInvalidNumber   = errors.New("invalid phone number")
	ErrBadRegion       = errors.New("unknown region")
	ErrEmptyText       = errors.New("empty text")
	ErrInvalidText     = errors.New("invalid text")
	ErrTooManySegments = errors.New("too many segments")
	ErrBadSender       = errors.New("invalid sender")
)

// FieldError says which field of a message is wrong and why.
type FieldError struct {
	// Field is "to", "text", "from" or "region".
	Field string
	// Reason is written for an operator, e.g. "14 segments (UCS-2), at most
	// 10 allowed". It never contains a full phone number.
	Reason string
	// Err is the sentinel this error matches (ErrInvalidNumber, …).
	Err error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func (e *FieldError) Unwrap() error { return e.Err }
