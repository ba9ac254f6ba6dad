package sms

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// DefaultMaxSegments is the segment limit ValidateText applies when
	// given 0: ten segments is where most providers stop concatenating.
	DefaultMaxSegments = 10
	// MaxSenderAlpha is the longest alphanumeric sender the GSM network
	// carries (11 GSM characters in the originating address field).
	MaxSenderAlpha = 11
)

// ValidateText checks a message body and tells how it will travel. The
// text must be valid UTF-8, not empty nor whitespace only, and fit in
// maxSegments segments (0 or less means DefaultMaxSegments). The Info is
// returned even with ErrTooManySegments so a UI can show the count.
func ValidateText(text string, maxSegments int) (Info, error) {
	if maxSegments <= 0 {
		maxSegments = DefaultMaxSegments
	}
	if !utf8.ValidString(text) {
		return Info{}, &FieldError{Field: "text", Reason: "not valid UTF-8 (was the file saved in another encoding?)", Err: ErrInvalidText}
	}
	if strings.TrimSpace(text) == "" {
		reason := "required"
		if text != "" {
			reason = "only whitespace"
		}
		return Info{}, &FieldError{Field: "text", Reason: reason, Err: ErrEmptyText}
	}
	info := Segments(text)
	if info.Segments > maxSegments {
		return info, &FieldError{
			Field:  "text",
			Reason: strconv.Itoa(info.Segments) + " segments (" + string(info.Encoding) + "), at most " + strconv.Itoa(maxSegments) + " allowed",
			Err:    ErrTooManySegments,
		}
	}
	return info, nil
}

// ValidateSender checks a sender ("from"). Empty is allowed and means the
// provider's default sender. Otherwise it is one of:
//   - an E.164 number: "+" then a number NormalizeNumber accepts, written
//     exactly as it returns it;
//   - a short code: 3 to 8 digits;
//   - an alphanumeric name: 1 to 11 characters of A-Z a-z 0-9 space . _ -,
//     at least one letter, no space at either end.
func ValidateSender(from string) error {
	if from == "" {
		return nil
	}
	if from[0] == '+' {
		e164, err := NormalizeNumber(from, "")
		if err != nil || e164 != from {
			return senderError("a numeric sender must be a valid E.164 number: + then country code and number, no spaces")
		}
		return nil
	}
	if allDigits(from) {
		if len(from) < 3 || len(from) > 8 {
			return senderError("a numeric sender must be a short code of 3 to 8 digits or an E.164 number starting with +")
		}
		return nil
	}
	letters := 0
	for _, r := range from {
		switch {
		case r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z':
			letters++
		case r >= '0' && r <= '9' || r == ' ' || r == '.' || r == '_' || r == '-':
		default:
			return senderError("character " + strconv.QuoteRune(r) + " is not allowed; use letters A-Z, digits, space, . _ -")
		}
	}
	switch {
	case len(from) > MaxSenderAlpha:
		return senderError(strconv.Quote(from) + " has " + strconv.Itoa(len(from)) + " characters, at most " + strconv.Itoa(MaxSenderAlpha) + " allowed")
	case letters == 0:
		return senderError("an alphanumeric sender needs at least one letter")
	case from[0] == ' ' || from[len(from)-1] == ' ':
		return senderError("an alphanumeric sender cannot start or end with a space")
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func senderError(reason string) *FieldError {
	return &FieldError{Field: "from", Reason: reason, Err: ErrBadSender}
}
