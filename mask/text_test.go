package mask_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/mask"
)

func TestTextMasksPhoneNumbers(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"E.164 in a sentence", "sending to +243851234567 now", "sending to +243*******67 now"},
		{"spaced", "call +243 85 123 4567.", "call +243 ** *** **67."},
		{"dashed national", "tel 085-123-4567", "tel 085-***-**67"},
		{"dotted", "+243.81.234.5678", "+243.**.***.**78"},
		{"French grouping", "+33 6 12 34 56 78", "+33 6 ** ** ** 78"},
		{"bare 8 digits", "12345678", "123***78"},
		{"glued to letters", "abc12345678def", "abc123***78def"},
		{"JSON string", `{"to":"+243851234567"}`, `{"to":"+243*******67"}`},
		{"JSON number", `{"to":243851234567}`, `{"to":243*******67}`},
		{"two numbers", "+243851234567,+34600100100", "+243*******67,+346******00"},
		{"decimal with a long side", "0.123456789", "0.12*****89"},
		{"unix time is digits too", `"t":1732306397`, `"t":173*****97`},
		{"phone followed by s is no duration", "0812345678s", "081*****78s"},
		{"not a UUID once glued to a letter", "x12345678-1234-1234-1234-123456789012",
			"x123*****-****-****-****-**********12"},
		{"date-shaped digits inside a number", "+243 8123-45-67", "+243 ****-**-67"},
		{"five dotted groups are no IP", "1.192.168.100.200", "1.19*.***.***.*00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := mask.Text(tc.in)
			require.Equal(t, tc.want, got)
			require.Len(t, got, len(tc.in), "masking keeps the length")
		})
	}
}

func TestTextLeavesOtherTextAlone(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"",
		"no digits here",
		"short 1234567 and 12 34 56",
		"2026-11-22T20:13:17Z",
		"2026-11-22T20:13:17.123456789+01:00",
		"2026-11-22t20:13:17.5-0500",
		`{"time":"2026-11-22T20:13:17Z","level":"info"}`,
		"start_date 2026-11-22 20:13 in Africa/Kinshasa",
		"day 2026-11-22",
		"\x1b[90m2026-11-22T20:13:17Z\x1b[0m", // zerolog ConsoleWriter colours
		"123e4567-e89b-12d3-a456-426614174000",
		"12345678-1234-1234-1234-123456789012",
		"id=DEADBEEF-0000-4000-8000-000000000000;",
		"took 1.234567891s",
		"took 1h2m3.123456789s, then 250ms, then 1.5µs",
		"max 2562047h47m16.854775807s",
		`"elapsed":12.345678`,
		"1234567.1234567",
		"redis at 192.168.100.200:6379",
		"version 1.2.3",
		"a 12  345678 b", // two spaces end a run
		"attempt 3 2026-11-22T20:13:17Z",
		"attempt 3 12345678-1234-1234-1234-123456789012",
	} {
		require.Equal(t, in, mask.Text(in), "Text(%q)", in)
	}
}

// Shapes Text keeps even though they may hold 8 digits in a row; used to
// check its output independently of its own parser.
var keptShapes = []*regexp.Regexp{
	regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`),
	regexp.MustCompile(`\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?`),
	regexp.MustCompile(`(\d{1,7}(\.\d{1,9})?(ns|us|µs|μs|ms|s|m|h))+`),
}

var eightDigits = regexp.MustCompile(`[0-9]{8}`)

func FuzzText(f *testing.F) {
	for _, s := range []string{
		"+243851234567", "+243 85 123 4567", "0.123456789", "12.345678", "2026-11-22T20:13:17.123456789Z",
		"12345678-1234-1234-1234-123456789012", "1h2m3.123456789s", "192.168.100.200", "1.192.168.100.200",
		"x2026-11-2212345678", "\x1b[90m2026-11-22T20:13:17Z", "+", "9", "1.5µs", "+1-2-3-4-5-6-7-8",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := mask.Text(s)
		require.Len(t, got, len(s))
		rest := got
		for _, re := range keptShapes {
			rest = re.ReplaceAllString(rest, " ")
		}
		require.False(t, eightDigits.MatchString(rest), "8 digits left in %q (from %q)", got, s)
		require.Equal(t, got, mask.Text(got), "masking twice changes nothing more")
		if !strings.ContainsAny(s, "0123456789") {
			require.Equal(t, s, got)
		}
	})
}
