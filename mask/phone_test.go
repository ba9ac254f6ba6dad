package mask_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/mask"
)

func TestPhone(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"+243851234567", "+243*******67"},
		{"+34600100100", "+346******00"},
		{"+14155552671", "+141******71"},
		{"243851234567", "243*******67"},
		{"+243 85 123 4567", "+243 ** *** **67"},
		{"12345678", "123***78"}, // 8 digits: the shortest kept-head form
		{"+1234567", "+*****67"}, // shorter: only the last 2 stay
		{"+123", "+*23"},
		{"12", "12"},
		{"", ""},
		{"+", "+"},
		{"unknown", "unknown"},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, mask.Phone(tc.in), "Phone(%q)", tc.in)
	}
}
