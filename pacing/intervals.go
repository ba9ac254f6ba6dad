package pacing

import (
	"fmt"
	"strings"
)

const minutesPerDay = 24 * 60

// Interval is one daily window in minutes after local midnight. Start is
// 0..1439 and inclusive; End is 0..1440 (1440 is "24:00") and exclusive.
// When End is not after Start the window crosses midnight: it runs from
// Start on the day it belongs to until End on the next day.
type Interval struct {
	Start, End int
}

// CrossesMidnight reports whether the window ends on the following day.
func (iv Interval) CrossesMidnight() bool { return iv.End <= iv.Start }

// String gives the window as hh:mm-hh:mm.
func (iv Interval) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", iv.Start/60, iv.Start%60, iv.End/60, iv.End%60)
}

// Intervals is the time_intervals field. Empty means all day.
type Intervals []Interval

// String gives the windows comma-separated, in the order they were given.
func (ivs Intervals) String() string {
	parts := make([]string, len(ivs))
	for i, iv := range ivs {
		parts[i] = iv.String()
	}
	return strings.Join(parts, ",")
}

// ParseIntervals reads the time_intervals field: hh:mm-hh:mm windows
// separated by commas without spaces. Hours are two digits 00..23, or 24 for
// an end of exactly 24:00; minutes are two digits 00..59. "" means all day
// and gives nil. Errors are *FieldError with Field "time_intervals".
func ParseIntervals(s string) (Intervals, error) {
	if s == "" {
		return nil, nil
	}
	items := strings.Split(s, ",")
	ivs := make(Intervals, 0, len(items))
	for i, item := range items {
		iv, err := parseInterval(item)
		if err != nil {
			return nil, &FieldError{Field: "time_intervals", Reason: fmt.Sprintf("interval %d %s: %s", i+1, quote(item), err)}
		}
		ivs = append(ivs, iv)
	}
	return ivs, nil
}

func parseInterval(s string) (Interval, error) {
	if len(s) != len("hh:mm-hh:mm") || s[5] != '-' {
		return Interval{}, fmt.Errorf("want hh:mm-hh:mm")
	}
	start, err := parseClock(s[:5])
	if err != nil {
		return Interval{}, fmt.Errorf("start: %w", err)
	}
	if start == minutesPerDay {
		return Interval{}, fmt.Errorf("24:00 may only end a window; use 00:00 to start at midnight")
	}
	end, err := parseClock(s[6:])
	if err != nil {
		return Interval{}, fmt.Errorf("end: %w", err)
	}
	return Interval{Start: start, End: end}, nil
}

// parseClock reads exactly hh:mm and returns minutes after midnight,
// accepting 24:00 (1440) for the caller to judge.
func parseClock(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' || !isDigit(s[0]) || !isDigit(s[1]) || !isDigit(s[3]) || !isDigit(s[4]) {
		return 0, fmt.Errorf("want hh:mm with two-digit hour and minute")
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	switch {
	case h > 24:
		return 0, fmt.Errorf("hour %02d is out of range 00..24", h)
	case m > 59:
		return 0, fmt.Errorf("minute %02d is out of range 00..59", m)
	case h == 24 && m != 0:
		return 0, fmt.Errorf("24:%02d is past the end of the day; 24:00 is the latest", m)
	}
	return h*60 + m, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
