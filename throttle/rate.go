package throttle

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rate is how many units of cost a provider accepts per period. The zero
// Rate means unlimited.
type Rate struct {
	// Count units of cost are allowed every Per.
	Count float64
	Per   time.Duration
	// Burst is how many units may go at once after an idle spell; 0 means 1.
	Burst int
}

// Unlimited reports whether r imposes no limit.
func (r Rate) Unlimited() bool { return r.Count <= 0 || r.Per <= 0 }

// Interval is the time one unit of cost occupies: Per/Count. Zero when
// unlimited.
func (r Rate) Interval() time.Duration {
	if r.Unlimited() {
		return 0
	}
	return time.Duration(float64(r.Per) / r.Count)
}

// PerSecond is the rate in units per second (0 when unlimited).
func (r Rate) PerSecond() float64 {
	if r.Unlimited() {
		return 0
	}
	return r.Count / r.Per.Seconds()
}

func (r Rate) String() string {
	if r.Unlimited() {
		return "unlimited"
	}
	count := strconv.FormatFloat(r.Count, 'f', -1, 64)
	switch r.Per {
	case time.Second:
		return count + "/s"
	case time.Minute:
		return count + "/min"
	case time.Hour:
		return count + "/h"
	}
	return count + "/" + r.Per.String()
}

// unitNames maps the period words ParseRate accepts to durations.
var unitNames = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "second": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour,
}

// ErrBadRate is matched by every ParseRate error.
var ErrBadRate = errors.New("bad rate")

// ParseRate reads "<count>/<period>": "50/s", "100/min", "3000/h",
// "0.5/s". The period is s|sec|second, m|min|minute, h|hr|hour or any Go
// duration ("10s", "500ms"). The empty string is the unlimited zero Rate.
// Burst is left at 0 (meaning 1); the caller sets it.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Rate{}, nil
	}
	countText, unit, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("%w %q: want <count>/<period>, e.g. 50/s", ErrBadRate, s)
	}
	count, err := strconv.ParseFloat(strings.TrimSpace(countText), 64)
	if err != nil || math.IsNaN(count) || math.IsInf(count, 0) {
		return Rate{}, fmt.Errorf("%w %q: count is not a number", ErrBadRate, s)
	}
	if count <= 0 {
		return Rate{}, fmt.Errorf("%w %q: count must be positive (leave the rate empty for unlimited)", ErrBadRate, s)
	}
	unit = strings.ToLower(strings.TrimSpace(unit))
	per, ok := unitNames[unit]
	if !ok {
		d, err := time.ParseDuration(unit)
		if err != nil || d <= 0 {
			return Rate{}, fmt.Errorf("%w %q: unknown period %q (use s, min, h or a duration)", ErrBadRate, s, unit)
		}
		per = d
	}
	r := Rate{Count: count, Per: per}
	// Slots are kept in whole microseconds in Redis: a finer interval
	// cannot be represented.
	if r.Interval() < time.Microsecond {
		return Rate{}, fmt.Errorf("%w %q: faster than 1,000,000 per second", ErrBadRate, s)
	}
	return r, nil
}

// intervalMicros is the interval of one unit in whole microseconds, rounded
// up so that slots are never closer than the configured rate allows.
func (r Rate) intervalMicros() int64 {
	if r.Unlimited() {
		return 0
	}
	us := float64(r.Per.Microseconds()) / r.Count
	// A tiny epsilon keeps exact quotients (1e6/50 = 20000) from being
	// pushed up by floating-point noise.
	return int64(math.Ceil(us - 1e-9))
}
