package pacing

import (
	"time"
)

// horizon bounds every search so that it terminates whatever the zone data
// says. The allowed set repeats weekly on the wall clock, so a real zone
// finds an answer within about eight days; a skipped day or a DST jump over
// the only window of the week costs at most one more week.
const horizon = 60 * 24 * time.Hour

// Block is one block of a schedule: recipients First … First+Count−1 may be
// sent from Start on, in the campaign's zone.
type Block struct {
	Index int
	Start time.Time
	First int
	Count int
}

// wallMinute returns the local reading of t as whole minutes since
// 1970-01-01 00:00 on the wall clock, and the zone offset in seconds.
func wallMinute(t time.Time) (minute int64, offset int64) {
	_, off := t.Zone()
	naive := t.Unix() + int64(off)
	minute = naive / 60
	if naive%60 < 0 {
		minute--
	}
	return minute, int64(off)
}

// weekMinute maps a wall minute to Monday 00:00 = 0 … Sunday 23:59. Day 0
// of the wall clock, 1970-01-01, was a Thursday.
func weekMinute(minute int64) int {
	m := (minute + 3*minutesPerDay) % minutesPerWeek
	if m < 0 {
		m += minutesPerWeek
	}
	return int(m)
}

// Allowed reports whether a message may be submitted at t. A plan that is not
// paced has no windows and allows every instant; start_date is not part of
// this test (blocks carry it).
func (p *Plan) Allowed(t time.Time) bool {
	if p.week == nil {
		return true
	}
	m, _ := wallMinute(t.In(p.loc))
	return p.week.allowed(weekMinute(m))
}

// NextAllowed returns the first allowed instant at or after t, in the
// campaign's zone. It walks the zone's constant-offset stretches, in each of
// which the wall clock runs straight, so DST jumps are handled exactly. It
// returns the zero Time only if nothing is allowed within 60 days, which
// real zone data cannot cause.
func (p *Plan) NextAllowed(t time.Time) time.Time {
	at, _ := p.nextAllowed(t)
	return at
}

// nextAllowed is NextAllowed with an explicit found flag, since the zero
// Time is itself an instant (year 1) that a plan may allow.
func (p *Plan) nextAllowed(t time.Time) (time.Time, bool) {
	x := t.In(p.loc)
	if p.week == nil {
		return x, true
	}
	limit := x.Add(horizon)
	for !x.After(limit) {
		m, off := wallMinute(x)
		d := p.week.untilAllowed(weekMinute(m))
		if d == 0 {
			return x, true
		}
		at := time.Unix((m+int64(d))*60-off, 0).In(p.loc)
		_, end := x.ZoneBounds()
		if end.IsZero() || at.Before(end) {
			return at, true
		}
		// The offset changes before the clock reaches the window: look again
		// from the change, where the wall clock may have jumped either way.
		x = next(x, end)
	}
	return time.Time{}, false
}

// WindowEnd returns, for an allowed t, the first instant after t that is not
// allowed: when a running block must stop. It returns the zero Time when the
// window never closes (not paced, or every day all day) and t itself when t
// is not allowed.
func (p *Plan) WindowEnd(t time.Time) time.Time {
	x := t.In(p.loc)
	if p.week == nil || p.week.full() {
		return time.Time{}
	}
	if !p.Allowed(x) {
		return x
	}
	limit := x.Add(horizon)
	for !x.After(limit) {
		m, off := wallMinute(x)
		d := p.week.untilDisallowed(weekMinute(m))
		at := time.Unix((m+int64(d))*60-off, 0).In(p.loc)
		_, end := x.ZoneBounds()
		if end.IsZero() || at.Before(end) {
			return at
		}
		x = next(x, end)
		if !p.Allowed(x) {
			return x // the offset change jumped out of the window
		}
	}
	return time.Time{}
}

// next steps from x to the zone change at end, and at least one second on
// so that malformed zone data cannot stall a search.
func next(x, end time.Time) time.Time {
	if end.After(x) {
		return end
	}
	return x.Add(time.Second)
}

// BlockStart returns the start of block k given prev, the start of block
// k−1 (ignored for k = 0). A plan that is not paced has a single block,
// at start_date; for it BlockStart returns prev when k > 0.
func (p *Plan) BlockStart(k int, prev time.Time) time.Time {
	if k <= 0 {
		return p.NextAllowed(p.start)
	}
	return p.NextAllowed(prev.Add(time.Duration(p.minutes) * time.Minute))
}

// Blocks returns how many blocks the campaign needs for n recipients.
func (p *Plan) Blocks(n int) int {
	switch {
	case n <= 0:
		return 0
	case p.week == nil:
		return 1
	}
	b := n / p.sms
	if n%p.sms != 0 {
		b++
	}
	return b
}

// Schedule returns the blocks for n recipients in order, at most limit of
// them (limit ≤ 0: all). The last block may hold fewer than smsxblock.
func (p *Plan) Schedule(n, limit int) []Block {
	return p.ScheduleFrom(0, p.BlockStart(0, time.Time{}), n, limit)
}

// ScheduleFrom is Schedule continued from block k starting at start, e.g.
// with the start Resume gave after downtime. start is moved to the next
// allowed instant if it is not allowed.
func (p *Plan) ScheduleFrom(k int, start time.Time, n, limit int) []Block {
	total := p.Blocks(n)
	if k < 0 || k >= total {
		return nil
	}
	count := total - k
	if limit > 0 && limit < count {
		count = limit
	}
	if p.week == nil {
		return []Block{{Index: 0, Start: start.In(p.loc), First: 0, Count: n}}
	}
	blocks := make([]Block, 0, count)
	at, ok := p.nextAllowed(start)
	for i := k; i < k+count; i++ {
		if i > k {
			at, ok = p.nextAllowed(at.Add(time.Duration(p.minutes) * time.Minute))
		}
		if !ok {
			break // unreachable with real zone data; see NextAllowed
		}
		first := i * p.sms
		blocks = append(blocks, Block{Index: i, Start: at, First: first, Count: min(p.sms, n-first)})
	}
	return blocks
}

// Resume returns when the next block may start after downtime, given the
// start of the last block actually started (zero if none): the first
// allowed instant at or after both now and lastStart plus minutesxblock.
// Blocks missed during the downtime therefore follow one per minutesxblock
// from there, never in a burst. With no block started yet the bound is
// start_date instead of lastStart. A plan that is not paced resumes its only
// block at once.
func (p *Plan) Resume(now, lastStart time.Time) time.Time {
	due := p.start
	if !lastStart.IsZero() {
		due = lastStart.Add(time.Duration(p.minutes) * time.Minute)
	}
	if now.After(due) {
		due = now
	}
	return p.NextAllowed(due)
}
