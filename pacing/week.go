package pacing

import (
	"slices"
	"sort"
)

// minutesPerWeek is the period of the allowed set on the wall clock.
const minutesPerWeek = 7 * minutesPerDay

// span is a half-open run [a, b) of minutes of the week, Monday 00:00 = 0.
type span struct{ a, b int }

// week is the allowed set of one local week as sorted, disjoint,
// non-adjacent spans. It is never empty: days and intervals always leave at
// least one allowed minute.
type week []span

// buildWeek lays every interval of every allowed day onto the week. A window
// crossing midnight on Sunday wraps to Monday morning.
func buildWeek(days Days, ivs Intervals) week {
	var spans []span
	add := func(a, b int) {
		if b <= minutesPerWeek {
			spans = append(spans, span{a, b})
			return
		}
		spans = append(spans, span{a, minutesPerWeek}, span{0, b - minutesPerWeek})
	}
	for day := 1; day <= 7; day++ {
		if !days.hasISO(day) {
			continue
		}
		base := (day - 1) * minutesPerDay
		if len(ivs) == 0 {
			add(base, base+minutesPerDay)
			continue
		}
		for _, iv := range ivs {
			end := iv.End
			if iv.CrossesMidnight() {
				end += minutesPerDay
			}
			add(base+iv.Start, base+end)
		}
	}
	slices.SortFunc(spans, func(x, y span) int { return x.a - y.a })
	var w week
	for _, s := range spans {
		if n := len(w); n > 0 && s.a <= w[n-1].b {
			w[n-1].b = max(w[n-1].b, s.b)
			continue
		}
		w = append(w, s)
	}
	return w
}

func (w week) full() bool { return len(w) == 1 && w[0] == span{0, minutesPerWeek} }

// find returns the index of the first span ending after m.
func (w week) find(m int) int {
	return sort.Search(len(w), func(i int) bool { return w[i].b > m })
}

func (w week) allowed(m int) bool {
	i := w.find(m)
	return i < len(w) && w[i].a <= m
}

// untilAllowed is how many minutes after minute m the next allowed minute
// starts: 0 when m itself is allowed.
func (w week) untilAllowed(m int) int {
	i := w.find(m)
	if i == len(w) {
		return w[0].a + minutesPerWeek - m
	}
	return max(w[i].a-m, 0)
}

// untilDisallowed is how many minutes after allowed minute m the allowed
// run ends, following it across Sunday midnight. It must not be called on a
// full week.
func (w week) untilDisallowed(m int) int {
	s := w[w.find(m)]
	d := s.b - m
	if s.b == minutesPerWeek && w[0].a == 0 {
		d += w[0].b
	}
	return d
}
