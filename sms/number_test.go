package sms_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/sms"
)

func TestNormalizeNumberAccepts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, raw, region, want string
	}{
		{"E.164 DRC Vodacom", "+243812345678", "", "+243812345678"},
		{"E.164 DRC 85", "+243851234567", "", "+243851234567"},
		{"spaced international", "+243 81 234 5678", "", "+243812345678"},
		{"00 prefix without region", "00243851234567", "", "+243851234567"},
		{"00 prefix with region", "00 243 85 123 4567", "CD", "+243851234567"},
		{"00 prefix where the region dials 011", "00243851234567", "US", "+243851234567"},
		{"region's own IDD", "011 243 81 234 5678", "US", "+243812345678"},
		{"country code without +", "243 85 123 4567", "CD", "+243851234567"},
		{"national format", "0851234567", "CD", "+243851234567"},
		{"national, lower-case region", "085 123 4567", "cd", "+243851234567"},
		{"parentheses and dashes", "(085) 123-4567", "CD", "+243851234567"},
		{"dots", "+243.81.234.5678", "", "+243812345678"},
		{"surrounding and inner no-break spaces", "\u00a0+243\u00a0812345678 ", "", "+243812345678"},
		{"tab inside", "+243\t81 234 5678", "", "+243812345678"},
		{"region ignored for international", "+34 600 100 100", "CD", "+34600100100"},
		{"Spain mobile", "+34 600 100 100", "", "+34600100100"},
		{"US 555 exchange", "+1 415 555 2671", "", "+14155552671"},
		{"US fictional 555-01xx", "+1 201 555 0123", "", "+12015550123"},
		{"US national", "(415) 555-2671", "US", "+14155552671"},
		{"France mobile", "06 12 34 56 78", "FR", "+33612345678"},
		{"UK mobile", "+44 7400 123456", "", "+447400123456"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := sms.NormalizeNumber(tc.raw, tc.region)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.NoError(t, sms.ValidateNumber(tc.raw, tc.region))

			again, err := sms.NormalizeNumber(got, "")
			require.NoError(t, err, "E.164 output must be accepted as input")
			require.Equal(t, got, again)
		})
	}
}

func TestNormalizeNumberRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, raw, region, reason string
	}{
		{"empty", "", "CD", "to: required"},
		{"blank", "   ", "CD", "to: required"},
		{"national without region", "0812345678", "", "to: must be in international format (+ and country code) when no default region is set"},
		{"country code without + nor region", "243812345678", "", "to: must be in international format (+ and country code) when no default region is set"},
		{"vanity letters", "+243-81-ABCDEFG", "", "to: may contain only digits, a leading +, spaces and . - / ( )"},
		{"tel URI", "tel:+243812345678", "", "to: may contain only digits, a leading +, spaces and . - / ( )"},
		{"extension", "+243812345678 ext 12", "", "to: may contain only digits, a leading +, spaces and . - / ( )"},
		{"second plus", "++243812345678", "", "to: may contain only digits, a leading +, spaces and . - / ( )"},
		{"plus alone", "+", "", "to: has no digits"},
		{"one digit short for DRC", "+24381234567", "", "to: not a valid number for country code +243"},
		{"one digit long for DRC", "+2438123456789", "", "to: not a valid number for country code +243"},
		{"unassigned DRC range", "+243112345678", "", "to: not a valid number for country code +243"},
		{"unknown country code", "+999123456789", "", "to: unknown country calling code"},
		{"too short", "+2438", "", "to: too short"},
		{"too long input", "+243" + strings.Repeat("1", 70), "", "to: too long to be a phone number"},
		{"US number with too few digits", "415 555 267", "US", "to: not a valid number for country code +1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := sms.NormalizeNumber(tc.raw, tc.region)
			require.Empty(t, got)
			require.EqualError(t, err, tc.reason)
			require.ErrorIs(t, err, sms.ErrInvalidNumber)
			var fe *sms.FieldError
			require.True(t, errors.As(err, &fe))
			require.Equal(t, "to", fe.Field)
			require.ErrorIs(t, sms.ValidateNumber(tc.raw, tc.region), sms.ErrInvalidNumber)
		})
	}
}

func TestNormalizeNumberUnknownRegion(t *testing.T) {
	t.Parallel()
	_, err := sms.NormalizeNumber("0812345678", "XX")
	require.EqualError(t, err, `region: "XX" is not a known ISO 3166 region code`)
	require.ErrorIs(t, err, sms.ErrBadRegion)
	require.NotErrorIs(t, err, sms.ErrInvalidNumber)
}

func TestNumberErrorsNeverCarryTheNumber(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"+24381234567", "+2438123456789", "+999123456789", "0812345678", "+243-81-234567X"} {
		_, err := sms.NormalizeNumber(raw, "")
		require.Error(t, err)
		require.NotContains(t, err.Error(), "8123456", "error for %q leaks the number", raw)
		require.NotContains(t, err.Error(), "9912345")
	}
}

func TestExampleNumber(t *testing.T) {
	t.Parallel()
	require.Equal(t, "+243810000000", sms.ExampleNumber("CD", 0))
	require.Equal(t, "+243812345678", sms.ExampleNumber("CD", 2345678))
	require.Equal(t, "+243819999999", sms.ExampleNumber("cd", 9_999_999))
	require.Equal(t, "+34600100100", sms.ExampleNumber("ES", 100100))
	require.Equal(t, "+34699999999", sms.ExampleNumber("ES", 99_999_999))
	require.Equal(t, "+14155552671", sms.ExampleNumber("US", 552671))
	require.Equal(t, "+14155000000", sms.ExampleNumber("US", 0))
	require.Equal(t, "+33612340000", sms.ExampleNumber("FR", 0), "other regions vary the example mobile number")
}

func TestExampleNumbersAreDistinctAndValid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		region string
		limit  int
	}{{"CD", 10_000_000}, {"ES", 100_000_000}, {"US", 1_000_000}, {"FR", 10_000}, {"GB", 10_000}, {"CI", 10_000}} {
		t.Run(tc.region, func(t *testing.T) {
			t.Parallel()
			seen := map[string]bool{}
			// The start, the end and a stride through the middle of the range.
			idx := []int{0, 1, 2, tc.limit - 2, tc.limit - 1}
			for i := 3; i < tc.limit-2; i += tc.limit/197 + 1 {
				idx = append(idx, i)
			}
			for _, i := range idx {
				n := sms.ExampleNumber(tc.region, i)
				require.False(t, seen[n], "%s(%d) = %s repeats", tc.region, i, n)
				seen[n] = true

				got, err := sms.NormalizeNumber(n, "")
				require.NoError(t, err, "%s(%d) = %s", tc.region, i, n)
				require.Equal(t, n, got)
				p, err := phonenumbers.Parse(n, "")
				require.NoError(t, err)
				require.Equal(t, strings.ToUpper(tc.region), phonenumbers.GetRegionCodeForNumber(p))
			}
			require.Panics(t, func() { sms.ExampleNumber(tc.region, tc.limit) })
		})
	}
}

func TestExampleNumberPanicsOnCallerBugs(t *testing.T) {
	t.Parallel()
	require.PanicsWithValue(t, `sms.ExampleNumber: unknown region "XX"`, func() { sms.ExampleNumber("XX", 0) })
	require.PanicsWithValue(t, "sms.ExampleNumber: index -1 outside [0, 10000000) for CD", func() { sms.ExampleNumber("CD", -1) })
	require.PanicsWithValue(t, "sms.ExampleNumber: index 10000000 outside [0, 10000000) for CD", func() { sms.ExampleNumber("CD", 10_000_000) })
}

func FuzzNormalizeNumber(f *testing.F) {
	for _, s := range []string{"+243812345678", "00243851234567", "243 85 123 4567", "0851234567", "+1 (415) 555-2671", "++", "+", "00", "0 0", "\u00a0+34\t600100100", "+2438"} {
		f.Add(s, "CD")
		f.Add(s, "")
	}
	f.Add("+14155552671", "US")
	f.Add("0011 243 81 234 5678", "AU")
	f.Fuzz(func(t *testing.T, raw, region string) {
		got, err := sms.NormalizeNumber(raw, region)
		if err != nil {
			var fe *sms.FieldError
			require.True(t, errors.As(err, &fe), "error %v is not a *FieldError", err)
			require.True(t, errors.Is(err, sms.ErrInvalidNumber) || errors.Is(err, sms.ErrBadRegion))
			require.Empty(t, got)
			return
		}
		require.True(t, strings.HasPrefix(got, "+"), got)
		require.LessOrEqual(t, len(got), 16, "E.164 has at most 15 digits")
		for _, c := range got[1:] {
			require.True(t, c >= '0' && c <= '9', "non-digit in %q", got)
		}
		again, err := sms.NormalizeNumber(got, "")
		require.NoError(t, err, "output %q must be accepted as input", got)
		require.Equal(t, got, again, "normalising is idempotent")
	})
}

func BenchmarkNormalizeNumber(b *testing.B) {
	for _, bc := range []struct{ name, raw, region string }{
		{"E164", "+243812345678", ""},
		{"national", "081 234 5678", "CD"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sms.NormalizeNumber(bc.raw, bc.region); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
