package bench

import (
	"sort"
	"time"

	"github.com/smsq/smsq/sandbox"
)

// times returns the acceptance times of msgs, sorted.
func times(msgs []sandbox.Accepted) []time.Time {
	out := make([]time.Time, len(msgs))
	for i, m := range msgs {
		out[i] = m.At
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// sentTwice counts the destinations of a per-destination count that got
// more than one message.
func sentTwice(perDest map[string]int) int {
	n := 0
	for _, c := range perDest {
		if c > 1 {
			n++
		}
	}
	return n
}

// countIn counts the sorted times in [from, to).
func countIn(ts []time.Time, from, to time.Time) int {
	lo := sort.Search(len(ts), func(i int) bool { return !ts[i].Before(from) })
	hi := sort.Search(len(ts), func(i int) bool { return !ts[i].Before(to) })
	return hi - lo
}

// maxInWindow is the largest number of sorted times inside any window of
// length w (half-open, [t, t+w)), sliding over every time.
func maxInWindow(ts []time.Time, w time.Duration) int {
	best, lo := 0, 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// perSecond counts the sorted times in each whole second of [from, to):
// the minimum and maximum over those seconds.
func perSecond(ts []time.Time, from, to time.Time) (lo, hi int) {
	first := true
	for s := from; s.Add(time.Second).Compare(to) <= 0; s = s.Add(time.Second) {
		n := countIn(ts, s, s.Add(time.Second))
		if first {
			lo, hi, first = n, n, false
			continue
		}
		lo, hi = min(lo, n), max(hi, n)
	}
	return lo, hi
}

// throughput is messages per second between the first and last time.
func throughput(ts []time.Time) float64 {
	if len(ts) < 2 {
		return 0
	}
	span := ts[len(ts)-1].Sub(ts[0]).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(len(ts)-1) / span
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
