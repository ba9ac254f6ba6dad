package pacing_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/pacing"
)

func requireFieldError(t *testing.T, err error, field string) {
	t.Helper()
	var fe *pacing.FieldError
	require.True(t, errors.As(err, &fe), "want *FieldError, got %v", err)
	require.Equal(t, field, fe.Field)
}

func FuzzParseIntervals(f *testing.F) {
	for _, s := range []string{"", "09:00-13:00,17:00-21:00", "22:00-02:00", "20:00-24:00", "10:00-10:00",
		"24:00-01:00", "23:59-24:00", "9:00-10:00", "09:00-13:00,", "99:99-99:99", "00:00-00:00,12:00-12:01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ivs, err := pacing.ParseIntervals(s)
		if err != nil {
			requireFieldError(t, err, "time_intervals")
			return
		}
		for _, iv := range ivs {
			require.True(t, iv.Start >= 0 && iv.Start < 24*60, "start %d", iv.Start)
			require.True(t, iv.End >= 0 && iv.End <= 24*60, "end %d", iv.End)
		}
		// The format is fixed-width, so the text round-trips exactly.
		require.Equal(t, s, ivs.String())
		again, err := pacing.ParseIntervals(ivs.String())
		require.NoError(t, err)
		require.Equal(t, ivs, again)
	})
}

func FuzzParseDays(f *testing.F) {
	for _, s := range []string{"", "1", "1,2,3,4,5", "7,1", "1,1", "0", "8", "1,", ",1", "1 ,2", "12"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := pacing.ParseDays(s)
		if err != nil {
			requireFieldError(t, err, "days")
			return
		}
		again, err := pacing.ParseDays(d.String())
		require.NoError(t, err)
		require.Equal(t, d, again)
		n := 0
		for w := time.Sunday; w <= time.Saturday; w++ {
			if d.Has(w) {
				n++
			}
		}
		require.Positive(t, n, "a parsed set always allows some day")
	})
}

var fuzzZones = []string{"UTC", "Europe/Madrid", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
	"America/Santiago", "Pacific/Apia", "Nowhere/Atlantis", "", "Local"}

func FuzzParse(f *testing.F) {
	f.Add("2026-05-04 09:30", uint8(1), 1000, 10, "1,2,3,4,5", "09:00-13:00,17:00-21:00")
	f.Add("2026-03-29 02:30", uint8(1), 1, 1, "7", "02:15-02:45")
	f.Add("2011-12-29 23:00", uint8(6), 5, 1440, "4", "22:00-02:00")
	f.Add("2026-05-04 09:30", uint8(0), 0, 0, "", "")
	f.Add("9999-12-31 23:59", uint8(3), 1, 43200, "", "10:00-10:00")
	f.Add("0001-01-01 00:00", uint8(5), 1, 1, "1", "")
	f.Fuzz(func(t *testing.T, start string, zone uint8, sms, minutes int, days, intervals string) {
		spec := pacing.Spec{
			StartDate: start, TimeZone: fuzzZones[int(zone)%len(fuzzZones)],
			SMSPerBlock: sms, MinutesPerBlock: minutes, Days: days, TimeIntervals: intervals,
		}
		p, err := pacing.Parse(spec)
		if err != nil {
			var fe *pacing.FieldError
			require.True(t, errors.As(err, &fe), "want *FieldError, got %v", err)
			require.Contains(t, []string{"start_date", "time_zone", "smsxblock", "minutesxblock", "days", "time_intervals"}, fe.Field)
			return
		}
		again, err := pacing.Parse(p.Spec())
		require.NoError(t, err)
		require.Equal(t, p.Spec(), again.Spec())
		require.True(t, p.Start().Equal(again.Start()))

		// A few blocks: each allowed, strictly later, spaced at least
		// minutesxblock apart.
		blocks := p.Schedule(5*max(p.SMSPerBlock(), 1), 0)
		require.NotEmpty(t, blocks)
		for k, b := range blocks {
			require.True(t, p.Allowed(b.Start))
			require.False(t, b.Start.Before(p.Start()))
			if k > 0 {
				require.GreaterOrEqual(t, b.Start.Sub(blocks[k-1].Start), time.Duration(p.MinutesPerBlock())*time.Minute)
			}
			if end := p.WindowEnd(b.Start); !end.IsZero() {
				require.True(t, end.After(b.Start))
				require.False(t, p.Allowed(end))
			}
		}
	})
}
