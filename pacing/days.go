package pacing

import (
	"fmt"
	"strings"
	"time"
)

// Days is a set of ISO weekdays (1 = Monday … 7 = Sunday); bit d-1 stands
// for day d. The zero value means every day, as an empty days field does.
type Days uint8

const allDays Days = 1<<7 - 1

// isoDay maps Go's weekday (0 = Sunday) to 1 = Monday … 7 = Sunday.
func isoDay(w time.Weekday) int {
	if w == time.Sunday {
		return 7
	}
	return int(w)
}

// Has reports whether w is in the set; every day is in the zero set.
func (d Days) Has(w time.Weekday) bool {
	return d == 0 || d&(1<<(isoDay(w)-1)) != 0
}

// hasISO is Has for 1 = Monday … 7 = Sunday.
func (d Days) hasISO(day int) bool {
	return d == 0 || d&(1<<(day-1)) != 0
}

// String gives the days in ascending order, "1,2,3"; the zero set prints
// as "" so that it parses back to itself.
func (d Days) String() string {
	var b strings.Builder
	for day := 1; day <= 7; day++ {
		if d&(1<<(day-1)) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(byte('0' + day))
	}
	return b.String()
}

// ParseDays reads the days field: comma-separated weekday numbers without
// spaces, each 1..7 and none repeated. "" means every day and gives the zero
// set. Errors are *FieldError with Field "days".
func ParseDays(s string) (Days, error) {
	if s == "" {
		return 0, nil
	}
	var d Days
	for i, item := range strings.Split(s, ",") {
		if len(item) != 1 || item[0] < '1' || item[0] > '7' {
			return 0, &FieldError{Field: "days", Reason: fmt.Sprintf(
				"item %d is %s; want a weekday number 1 (Monday) to 7 (Sunday), comma-separated without spaces",
				i+1, quote(item))}
		}
		bit := Days(1) << (item[0] - '1')
		if d&bit != 0 {
			return 0, &FieldError{Field: "days", Reason: fmt.Sprintf("day %s is listed twice", item)}
		}
		d |= bit
	}
	return d, nil
}

// quote shows user input in an error, cut short so that a huge field cannot
// flood the logs.
func quote(s string) string {
	const max = 32
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
