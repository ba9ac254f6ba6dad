package pacing_test

import (
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // tests must not depend on the host's zoneinfo

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/pacing"
)

func paced(mod func(*pacing.Spec)) pacing.Spec {
	s := pacing.Spec{
		StartDate:       "2026-05-04 09:30",
		TimeZone:        "Europe/Madrid",
		SMSPerBlock:     1000,
		MinutesPerBlock: 10,
		Days:            "1,2,3,4,5",
		TimeIntervals:   "09:00-13:00,17:00-21:00",
	}
	if mod != nil {
		mod(&s)
	}
	return s
}

func TestParseAcceptsValidSpecs(t *testing.T) {
	t.Parallel()
	cases := map[string]pacing.Spec{
		"weekdays two windows":    paced(nil),
		"every day all day":       paced(func(s *pacing.Spec) { s.Days, s.TimeIntervals = "", "" }),
		"all seven days unsorted": paced(func(s *pacing.Spec) { s.Days = "7,1,6,2,5,3,4" }),
		"crossing midnight":       paced(func(s *pacing.Spec) { s.TimeIntervals = "22:00-02:00" }),
		"24:00 end":               paced(func(s *pacing.Spec) { s.TimeIntervals = "20:00-24:00" }),
		"equal ends, 24 hours":    paced(func(s *pacing.Spec) { s.TimeIntervals = "10:00-10:00" }),
		"00:00-00:00":             paced(func(s *pacing.Spec) { s.TimeIntervals = "00:00-00:00" }),
		"overlapping windows":     paced(func(s *pacing.Spec) { s.TimeIntervals = "09:00-12:00,11:00-14:00" }),
		"one minute blocks":       paced(func(s *pacing.Spec) { s.MinutesPerBlock = 1 }),
		"longest gap":             paced(func(s *pacing.Spec) { s.MinutesPerBlock = pacing.MaxMinutesPerBlock }),
		"one message blocks":      paced(func(s *pacing.Spec) { s.SMSPerBlock = 1 }),
		"UTC":                     paced(func(s *pacing.Spec) { s.TimeZone = "UTC" }),
		"half-hour zone":          paced(func(s *pacing.Spec) { s.TimeZone = "Australia/Lord_Howe" }),
		"leap day":                paced(func(s *pacing.Spec) { s.StartDate = "2028-02-29 23:59" }),
		"unpaced":                 {StartDate: "2026-05-04 09:30", TimeZone: "America/New_York"},
	}
	for name, spec := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := pacing.Parse(spec)
			require.NoError(t, err)
			again, err := pacing.Parse(p.Spec())
			require.NoError(t, err)
			require.Equal(t, p.Spec(), again.Spec(), "Spec() must parse back to the same plan")
		})
	}
}

func TestParseNamesTheBadField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		spec  pacing.Spec
		field string
	}{
		{"missing start", paced(func(s *pacing.Spec) { s.StartDate = "" }), "start_date"},
		{"slashes", paced(func(s *pacing.Spec) { s.StartDate = "2026/05/04 09:30" }), "start_date"},
		{"T separator", paced(func(s *pacing.Spec) { s.StartDate = "2026-05-04T09:30" }), "start_date"},
		{"seconds", paced(func(s *pacing.Spec) { s.StartDate = "2026-05-04 09:30:00" }), "start_date"},
		{"one-digit hour", paced(func(s *pacing.Spec) { s.StartDate = "2026-05-04 9:30 " }), "start_date"},
		{"month 13", paced(func(s *pacing.Spec) { s.StartDate = "2026-13-04 09:30" }), "start_date"},
		{"feb 30", paced(func(s *pacing.Spec) { s.StartDate = "2026-02-30 09:30" }), "start_date"},
		{"feb 29 non-leap", paced(func(s *pacing.Spec) { s.StartDate = "2027-02-29 09:30" }), "start_date"},
		{"hour 24", paced(func(s *pacing.Spec) { s.StartDate = "2026-05-04 24:00" }), "start_date"},
		{"minute 60", paced(func(s *pacing.Spec) { s.StartDate = "2026-05-04 09:60" }), "start_date"},
		{"year 0", paced(func(s *pacing.Spec) { s.StartDate = "0000-05-04 09:30" }), "start_date"},
		{"sign in year", paced(func(s *pacing.Spec) { s.StartDate = "+026-05-04 09:30" }), "start_date"},
		{"missing zone", paced(func(s *pacing.Spec) { s.TimeZone = "" }), "time_zone"},
		{"Local zone", paced(func(s *pacing.Spec) { s.TimeZone = "Local" }), "time_zone"},
		{"unknown zone", paced(func(s *pacing.Spec) { s.TimeZone = "Europe/Atlantis" }), "time_zone"},
		{"path as zone", paced(func(s *pacing.Spec) { s.TimeZone = "../etc/passwd" }), "time_zone"},
		{"negative sms", paced(func(s *pacing.Spec) { s.SMSPerBlock = -1 }), "smsxblock"},
		{"negative minutes", paced(func(s *pacing.Spec) { s.MinutesPerBlock = -5 }), "minutesxblock"},
		{"minutes too large", paced(func(s *pacing.Spec) { s.MinutesPerBlock = pacing.MaxMinutesPerBlock + 1 }), "minutesxblock"},
		{"sms without minutes", paced(func(s *pacing.Spec) { s.MinutesPerBlock = 0 }), "minutesxblock"},
		{"minutes without sms", paced(func(s *pacing.Spec) { s.SMSPerBlock = 0 }), "smsxblock"},
		{"days without pair", pacing.Spec{StartDate: "2026-05-04 09:30", TimeZone: "UTC", Days: "1"}, "days"},
		{"intervals without pair", pacing.Spec{StartDate: "2026-05-04 09:30", TimeZone: "UTC", TimeIntervals: "09:00-10:00"}, "time_intervals"},
		{"day 0", paced(func(s *pacing.Spec) { s.Days = "0,1" }), "days"},
		{"day 8", paced(func(s *pacing.Spec) { s.Days = "1,8" }), "days"},
		{"duplicated day", paced(func(s *pacing.Spec) { s.Days = "1,2,1" }), "days"},
		{"space in days", paced(func(s *pacing.Spec) { s.Days = "1, 2" }), "days"},
		{"trailing comma days", paced(func(s *pacing.Spec) { s.Days = "1,2," }), "days"},
		{"day names", paced(func(s *pacing.Spec) { s.Days = "mon" }), "days"},
		{"hour 25", paced(func(s *pacing.Spec) { s.TimeIntervals = "09:00-25:00" }), "time_intervals"},
		{"minute 60 interval", paced(func(s *pacing.Spec) { s.TimeIntervals = "09:60-10:00" }), "time_intervals"},
		{"24:00 start", paced(func(s *pacing.Spec) { s.TimeIntervals = "24:00-02:00" }), "time_intervals"},
		{"24:30 end", paced(func(s *pacing.Spec) { s.TimeIntervals = "22:00-24:30" }), "time_intervals"},
		{"one-digit hour interval", paced(func(s *pacing.Spec) { s.TimeIntervals = "9:00-13:00" }), "time_intervals"},
		{"space after comma", paced(func(s *pacing.Spec) { s.TimeIntervals = "09:00-13:00, 17:00-21:00" }), "time_intervals"},
		{"empty item", paced(func(s *pacing.Spec) { s.TimeIntervals = "09:00-13:00,,17:00-21:00" }), "time_intervals"},
		{"en dash", paced(func(s *pacing.Spec) { s.TimeIntervals = "09:00–13:00" }), "time_intervals"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := pacing.Parse(tc.spec)
			var fe *pacing.FieldError
			require.True(t, errors.As(err, &fe), "want *FieldError, got %v", err)
			require.Equal(t, tc.field, fe.Field)
			require.Contains(t, err.Error(), "pacing."+tc.field+": ")
		})
	}
}

func TestParseUnpacedRejectsWindowsSayingConectalineIgnoresThem(t *testing.T) {
	t.Parallel()
	_, err := pacing.Parse(pacing.Spec{StartDate: "2026-05-04 09:30", TimeZone: "UTC", Days: "1,2"})
	require.ErrorContains(t, err, "Conectaline would ignore it")
}

func TestParseDays(t *testing.T) {
	t.Parallel()
	d, err := pacing.ParseDays("5,1,3")
	require.NoError(t, err)
	require.Equal(t, "1,3,5", d.String())
	require.True(t, d.Has(time.Monday))
	require.True(t, d.Has(time.Friday))
	require.False(t, d.Has(time.Sunday))

	d, err = pacing.ParseDays("7")
	require.NoError(t, err)
	require.True(t, d.Has(time.Sunday))
	require.False(t, d.Has(time.Saturday))

	every, err := pacing.ParseDays("")
	require.NoError(t, err)
	require.Equal(t, pacing.Days(0), every)
	require.Empty(t, every.String())
	for w := time.Sunday; w <= time.Saturday; w++ {
		require.True(t, every.Has(w), "empty days means every day")
	}
}

func TestParseIntervals(t *testing.T) {
	t.Parallel()
	ivs, err := pacing.ParseIntervals("09:00-13:00,22:00-02:00,20:00-24:00,10:00-10:00")
	require.NoError(t, err)
	require.Equal(t, pacing.Intervals{{540, 780}, {1320, 120}, {1200, 1440}, {600, 600}}, ivs)
	require.False(t, ivs[0].CrossesMidnight())
	require.True(t, ivs[1].CrossesMidnight())
	require.False(t, ivs[2].CrossesMidnight(), "24:00 ends the same day")
	require.True(t, ivs[3].CrossesMidnight(), "end not after start: a full day from 10:00")
	require.Equal(t, "09:00-13:00,22:00-02:00,20:00-24:00,10:00-10:00", ivs.String())

	none, err := pacing.ParseIntervals("")
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestErrorsDoNotEchoHugeInput(t *testing.T) {
	t.Parallel()
	huge := make([]byte, 10000)
	for i := range huge {
		huge[i] = 'x'
	}
	_, err := pacing.ParseIntervals(string(huge))
	require.Error(t, err)
	require.Less(t, len(err.Error()), 200)
}
