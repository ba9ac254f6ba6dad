package sms_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/sms"
)

func TestValidateText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		text     string
		max      int
		wantErr  string // "" for success
		sentinel error
		segments int
	}{
		{"one GSM segment", "Hello", 0, "", nil, 1},
		{"exactly the default limit", strings.Repeat("a", 1530), 0, "", nil, 10},
		{"one over the default limit", strings.Repeat("a", 1531), 0, "text: 11 segments (GSM-7), at most 10 allowed", sms.ErrTooManySegments, 11},
		{"UCS-2 over the limit", strings.Repeat("д", 67*13+1), 10, "text: 14 segments (UCS-2), at most 10 allowed", sms.ErrTooManySegments, 14},
		{"custom limit", strings.Repeat("a", 161), 1, "text: 2 segments (GSM-7), at most 1 allowed", sms.ErrTooManySegments, 2},
		{"negative limit means default", strings.Repeat("a", 1530), -1, "", nil, 10},
		{"empty", "", 0, "text: required", sms.ErrEmptyText, 0},
		{"spaces only", "   ", 0, "text: only whitespace", sms.ErrEmptyText, 0},
		{"newlines and tabs only", "\n\t\r\n", 0, "text: only whitespace", sms.ErrEmptyText, 0},
		{"no-break spaces only", "\u00a0\u2003", 0, "text: only whitespace", sms.ErrEmptyText, 0},
		{"invalid UTF-8", "caf\xe9", 0, "text: not valid UTF-8 (was the file saved in another encoding?)", sms.ErrInvalidText, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			info, err := sms.ValidateText(tc.text, tc.max)
			require.Equal(t, tc.segments, info.Segments)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.wantErr)
			require.ErrorIs(t, err, tc.sentinel)
			var fe *sms.FieldError
			require.True(t, errors.As(err, &fe))
			require.Equal(t, "text", fe.Field)
		})
	}
}

func TestValidateSender(t *testing.T) {
	t.Parallel()
	ok := []string{
		"",              // provider default
		"SMSQ",          // alphanumeric
		"A",             // one letter
		"Vodacom RDC",   // 11 with a space
		"shop.cd",       // dot
		"my_shop-2",     // underscore, dash, digit
		"2FA",           // digits with a letter
		"123",           // shortest short code
		"12345678",      // longest short code
		"+243812345678", // E.164
		"+14155552671",
	}
	for _, from := range ok {
		require.NoError(t, sms.ValidateSender(from), "%q", from)
	}

	bad := []struct{ from, reason string }{
		{"TwelveLetter", `"TwelveLetter" has 12 characters, at most 11 allowed`},
		{" SMSQ", "an alphanumeric sender cannot start or end with a space"},
		{"SMSQ ", "an alphanumeric sender cannot start or end with a space"},
		{"12-34", "an alphanumeric sender needs at least one letter"},
		{"12 345", "an alphanumeric sender needs at least one letter"},
		{"...", "an alphanumeric sender needs at least one letter"},
		{"Café", `character 'é' is not allowed; use letters A-Z, digits, space, . _ -`},
		{"shop@cd", `character '@' is not allowed; use letters A-Z, digits, space, . _ -`},
		{"A+B", `character '+' is not allowed; use letters A-Z, digits, space, . _ -`},
		{"12", "a numeric sender must be a short code of 3 to 8 digits or an E.164 number starting with +"},
		{"123456789", "a numeric sender must be a short code of 3 to 8 digits or an E.164 number starting with +"},
		{"243812345678", "a numeric sender must be a short code of 3 to 8 digits or an E.164 number starting with +"},
		{"+243 81 234 5678", "a numeric sender must be a valid E.164 number: + then country code and number, no spaces"},
		{"+24381234567", "a numeric sender must be a valid E.164 number: + then country code and number, no spaces"},
		{"+", "a numeric sender must be a valid E.164 number: + then country code and number, no spaces"},
	}
	for _, tc := range bad {
		err := sms.ValidateSender(tc.from)
		require.EqualError(t, err, "from: "+tc.reason, "%q", tc.from)
		require.ErrorIs(t, err, sms.ErrBadSender)
		var fe *sms.FieldError
		require.True(t, errors.As(err, &fe))
		require.Equal(t, "from", fe.Field)
	}
}
