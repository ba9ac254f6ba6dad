package pacing

import (
	"fmt"
	"time"
)

// MaxMinutesPerBlock is the longest gap between blocks Parse accepts:
// 30 days. Longer gaps are more likely a unit mistake than a plan.
const MaxMinutesPerBlock = 30 * minutesPerDay

// startLayout is Conectaline's start_date format.
const startLayout = "2006-01-02 15:04"

// Spec is a campaign's pacing as the user writes it, with Conectaline's
// field names.
type Spec struct {
	// StartDate is the local wall-clock time of the first block,
	// yyyy-mm-dd hh:mm. Required: no default.
	StartDate string `koanf:"start_date" json:"start_date"`
	// TimeZone is the IANA zone StartDate, Days and TimeIntervals are read
	// in, e.g. "Europe/Madrid". Required: no default, because a guessed zone
	// shifts every window; "Local" is refused since it depends on the host.
	TimeZone string `koanf:"time_zone" json:"time_zone"`
	// SMSPerBlock is the number of recipients per block. Default 0: not
	// paced, which requires MinutesPerBlock to be 0 too.
	SMSPerBlock int `koanf:"smsxblock" json:"smsxblock,omitempty"`
	// MinutesPerBlock is the spacing of block starts in minutes,
	// 1..MaxMinutesPerBlock. Default 0: not paced, which requires
	// SMSPerBlock to be 0 too.
	MinutesPerBlock int `koanf:"minutesxblock" json:"minutesxblock,omitempty"`
	// Days lists the allowed weekdays, "1,2,3,4,5" (1 = Monday … 7 =
	// Sunday). Default "": every day. Only valid on a paced campaign.
	Days string `koanf:"days" json:"days,omitempty"`
	// TimeIntervals lists the allowed daily windows, "09:00-13:00,17:00-21:00".
	// Default "": all day. Only valid on a paced campaign.
	TimeIntervals string `koanf:"time_intervals" json:"time_intervals,omitempty"`
}

// FieldError says which Spec field is wrong and why. Field is the
// Conectaline name: start_date, time_zone, smsxblock, minutesxblock, days or
// time_intervals.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "pacing." + e.Field + ": " + e.Reason }

// Plan is a parsed, valid Spec. It is immutable and safe for concurrent use.
type Plan struct {
	loc     *time.Location
	reading time.Time // start_date as a naive reading, in UTC
	start   time.Time // the instant start_date denotes
	sms     int
	minutes int
	days    Days
	ivs     Intervals
	week    week // nil when not paced
}

// Parse validates s and returns its Plan. Errors are *FieldError naming the
// first bad field in the order start_date, time_zone, smsxblock,
// minutesxblock, days, time_intervals.
func Parse(s Spec) (*Plan, error) {
	reading, err := parseStartDate(s.StartDate)
	if err != nil {
		return nil, err
	}
	loc, err := loadZone(s.TimeZone)
	if err != nil {
		return nil, err
	}
	p := &Plan{loc: loc, reading: reading, start: firstInstantShowing(reading, loc)}

	switch {
	case s.SMSPerBlock < 0:
		return nil, &FieldError{Field: "smsxblock", Reason: fmt.Sprintf("must be a positive number of messages, got %d", s.SMSPerBlock)}
	case s.MinutesPerBlock < 0 || s.MinutesPerBlock > MaxMinutesPerBlock:
		return nil, &FieldError{Field: "minutesxblock", Reason: fmt.Sprintf("must be 1..%d minutes, got %d", MaxMinutesPerBlock, s.MinutesPerBlock)}
	case s.SMSPerBlock > 0 && s.MinutesPerBlock == 0:
		return nil, &FieldError{Field: "minutesxblock", Reason: "required when smsxblock is set: give both or neither"}
	case s.SMSPerBlock == 0 && s.MinutesPerBlock > 0:
		return nil, &FieldError{Field: "smsxblock", Reason: "required when minutesxblock is set: give both or neither"}
	case s.SMSPerBlock == 0:
		// Not paced: Conectaline ignores windows here, so refuse them rather
		// than let the user believe they hold.
		if s.Days != "" {
			return nil, &FieldError{Field: "days", Reason: "only applies with smsxblock and minutesxblock; Conectaline would ignore it and send at any time"}
		}
		if s.TimeIntervals != "" {
			return nil, &FieldError{Field: "time_intervals", Reason: "only applies with smsxblock and minutesxblock; Conectaline would ignore it and send at any time"}
		}
		return p, nil
	}

	if p.days, err = ParseDays(s.Days); err != nil {
		return nil, err
	}
	if p.ivs, err = ParseIntervals(s.TimeIntervals); err != nil {
		return nil, err
	}
	p.sms, p.minutes = s.SMSPerBlock, s.MinutesPerBlock
	p.week = buildWeek(p.days, p.ivs)
	return p, nil
}

// parseStartDate reads exactly yyyy-mm-dd hh:mm (two-digit fields, year
// 0001..9999) and returns the reading as a UTC time; it is not yet an instant.
func parseStartDate(s string) (time.Time, error) {
	bad := func(why string) error {
		return &FieldError{Field: "start_date", Reason: fmt.Sprintf("%s is %s; want yyyy-mm-dd hh:mm, e.g. 2026-05-04 09:30", quote(s), why)}
	}
	if s == "" {
		return time.Time{}, &FieldError{Field: "start_date", Reason: "required, as yyyy-mm-dd hh:mm"}
	}
	if len(s) != len(startLayout) || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' {
		return time.Time{}, bad("not in the expected layout")
	}
	var f [5]int
	for i, pos := range [5][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}} {
		for _, c := range []byte(s[pos[0]:pos[1]]) {
			if !isDigit(c) {
				return time.Time{}, bad("not in the expected layout")
			}
			f[i] = f[i]*10 + int(c-'0')
		}
	}
	year, month, day, hour, minute := f[0], f[1], f[2], f[3], f[4]
	switch {
	case year == 0:
		return time.Time{}, bad("before year 1")
	case month < 1 || month > 12:
		return time.Time{}, bad("not a valid month")
	case day < 1 || day > daysIn(year, time.Month(month)):
		return time.Time{}, bad("not a day of that month")
	case hour > 23:
		return time.Time{}, bad("not a valid hour (00..23)")
	case minute > 59:
		return time.Time{}, bad("not a valid minute (00..59)")
	}
	return time.Date(year, time.Month(month), day, hour, minute, 0, 0, time.UTC), nil
}

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func loadZone(name string) (*time.Location, error) {
	switch name {
	case "":
		return nil, &FieldError{Field: "time_zone", Reason: "required, an IANA zone such as Europe/Madrid"}
	case "Local":
		return nil, &FieldError{Field: "time_zone", Reason: `"Local" depends on the host; name the IANA zone, such as Europe/Madrid`}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, &FieldError{Field: "time_zone", Reason: fmt.Sprintf("%s is not a known IANA time zone", quote(name))}
	}
	return loc, nil
}

// firstInstantShowing returns the first instant at which the wall clock of
// loc shows reading (given as a UTC time) or later: the earlier instant of
// a reading that occurs twice, the moment of the jump for a skipped one.
func firstInstantShowing(reading time.Time, loc *time.Location) time.Time {
	naive := reading.Unix()
	// No zone is 48 hours ahead of UTC, so this instant reads earlier.
	x := time.Unix(naive-48*3600, 0).In(loc)
	for range 64 {
		_, off := x.Zone()
		if x.Unix()+int64(off) >= naive {
			return x // the clock jumped over the reading at x
		}
		at := time.Unix(naive-int64(off), 0).In(loc)
		_, end := x.ZoneBounds()
		if end.IsZero() || at.Before(end) {
			return at
		}
		if !end.After(x) {
			break // malformed zone data; fall back below
		}
		x = end
	}
	y, m, d := reading.Date()
	return time.Date(y, m, d, reading.Hour(), reading.Minute(), 0, 0, loc)
}

// Spec returns the plan in normal form: Parse(p.Spec()) gives an equal plan.
func (p *Plan) Spec() Spec {
	return Spec{
		StartDate:       p.reading.Format(startLayout),
		TimeZone:        p.loc.String(),
		SMSPerBlock:     p.sms,
		MinutesPerBlock: p.minutes,
		Days:            p.days.String(),
		TimeIntervals:   p.ivs.String(),
	}
}

// Paced reports whether the plan sends in blocks (smsxblock and
// minutesxblock were given).
func (p *Plan) Paced() bool { return p.week != nil }

// Location is the campaign's time zone.
func (p *Plan) Location() *time.Location { return p.loc }

// Start is the instant start_date denotes, in the campaign's zone.
func (p *Plan) Start() time.Time { return p.start }

// SMSPerBlock is smsxblock, 0 when not paced.
func (p *Plan) SMSPerBlock() int { return p.sms }

// MinutesPerBlock is minutesxblock, 0 when not paced.
func (p *Plan) MinutesPerBlock() int { return p.minutes }

// Days is the allowed weekday set; the zero set means every day.
func (p *Plan) Days() Days { return p.days }

// Intervals is a copy of the daily windows; empty means all day.
func (p *Plan) Intervals() Intervals { return append(Intervals(nil), p.ivs...) }
