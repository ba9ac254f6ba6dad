package pacing_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/pacing"
)

// This file checks the package against a reference written straight from
// the pacing rules, sharing none of its code: it walks UTC minute by minute
// and reads each instant's local weekday and clock with the time package.

// refInterval is a window in minutes after midnight; end ≤ start crosses midnight.
type refInterval struct{ start, end int }

type refCampaign struct {
	loc       *time.Location
	reading   [5]int // year, month, day, hour, minute of start_date
	sms, mins int
	days      [8]bool // 1 = Monday … 7 = Sunday
	intervals []refInterval
}

// allowed: local weekday and wall clock match a window. A window crossing
// midnight belongs to the day it starts on.
func (c *refCampaign) allowed(t time.Time) bool {
	local := t.In(c.loc)
	day := int(local.Weekday())
	if day == 0 {
		day = 7
	}
	yesterday := day - 1
	if yesterday == 0 {
		yesterday = 7
	}
	clock := local.Hour()*60 + local.Minute()
	if len(c.intervals) == 0 {
		return c.days[day]
	}
	for _, iv := range c.intervals {
		if iv.start < iv.end {
			if c.days[day] && clock >= iv.start && clock < iv.end {
				return true
			}
			continue
		}
		if c.days[day] && clock >= iv.start {
			return true
		}
		if c.days[yesterday] && clock < iv.end {
			return true
		}
	}
	return false
}

// startInstant is the first UTC minute at which the local clock shows
// start_date or later.
func (c *refCampaign) startInstant() time.Time {
	r := c.reading
	want := fmt.Sprintf("%04d-%02d-%02d %02d:%02d", r[0], r[1], r[2], r[3], r[4])
	t := time.Date(r[0], time.Month(r[1]), r[2], r[3], r[4], 0, 0, time.UTC).Add(-16 * time.Hour)
	for range 48 * 60 {
		if t.In(c.loc).Format("2006-01-02 15:04") >= want {
			return t
		}
		t = t.Add(time.Minute)
	}
	panic("reference: start_date never reached")
}

// firstAllowed steps minute by minute; every candidate is a whole UTC minute.
func (c *refCampaign) firstAllowed(t time.Time) time.Time {
	for range 30 * 24 * 60 {
		if c.allowed(t) {
			return t
		}
		t = t.Add(time.Minute)
	}
	panic("reference: nothing allowed within 30 days")
}

func (c *refCampaign) starts(blocks int) []time.Time {
	out := make([]time.Time, 0, blocks)
	t := c.firstAllowed(c.startInstant())
	for range blocks {
		out = append(out, t)
		t = c.firstAllowed(t.Add(time.Duration(c.mins) * time.Minute))
	}
	return out
}

var propertyZones = []string{
	"UTC", "Europe/Madrid", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
	"America/Santiago", "Pacific/Chatham", "America/St_Johns", "Asia/Tehran", "Africa/Casablanca",
	"Europe/London", "Pacific/Apia", "America/Havana", "Australia/Adelaide",
}

// offsetChanges finds, hour by hour, the instants in year where loc's UTC
// offset differs from an hour before.
func offsetChanges(loc *time.Location, year int) []time.Time {
	var out []time.Time
	t := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	_, prev := t.In(loc).Zone()
	for t.Year() == year {
		t = t.Add(time.Hour)
		if _, off := t.In(loc).Zone(); off != prev {
			out = append(out, t)
			prev = off
		}
	}
	return out
}

// randomCampaign draws a campaign biased towards hard cases: DST days, small
// hours, sparse days, windows crossing midnight. It returns the Spec text
// and the reference's own structured view of it.
func randomCampaign(t *testing.T, rng *rand.Rand) (pacing.Spec, *refCampaign) {
	name := propertyZones[rng.IntN(len(propertyZones))]
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	c := &refCampaign{loc: loc, sms: 1 + rng.IntN(5000), mins: 1 + rng.IntN(600)}

	year := 2009 + rng.IntN(22)
	date := time.Date(year, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC)
	// near holds local clock readings (minutes after midnight) just before
	// and after an offset change, so that windows can start or end there.
	var near []int
	if changes := offsetChanges(loc, year); len(changes) > 0 && rng.IntN(3) > 0 {
		change := changes[rng.IntN(len(changes))]
		date = change.In(loc).AddDate(0, 0, -rng.IntN(4))
		for _, at := range []time.Time{change.Add(-time.Minute).In(loc), change.In(loc)} {
			near = append(near, at.Hour()*60+at.Minute())
		}
	}
	hour := rng.IntN(24)
	if rng.IntN(2) == 0 {
		hour = rng.IntN(4)
	}
	c.reading = [5]int{date.Year(), int(date.Month()), date.Day(), hour, rng.IntN(60)}

	var days []string
	if rng.IntN(4) > 0 {
		n := 1 + rng.IntN(3)
		if rng.IntN(3) == 0 {
			n = 1 + rng.IntN(7)
		}
		for _, d := range rng.Perm(7)[:n] {
			c.days[d+1] = true
			days = append(days, fmt.Sprint(d+1))
		}
	} else {
		for d := 1; d <= 7; d++ {
			c.days[d] = true
		}
	}

	clock := func(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
	var ivs []string
	if rng.IntN(4) > 0 {
		for range 1 + rng.IntN(3) {
			start := rng.IntN(24*60 - 1)
			if rng.IntN(2) == 0 {
				start = rng.IntN(4)*60 + 15*rng.IntN(4)
			}
			var end int
			switch r := rng.IntN(10); {
			case r < 3: // crossing midnight, possibly a full day
				end = rng.IntN(start + 1)
			case r == 3:
				end = 24 * 60
			default:
				end = start + 1 + rng.IntN(24*60-start)
			}
			if len(near) > 0 && rng.IntN(2) == 0 {
				// Start or end within 90 minutes of the change.
				jitter := func() int {
					return min(max(near[rng.IntN(len(near))]+rng.IntN(181)-90, 0), 24*60-1)
				}
				if rng.IntN(2) == 0 {
					start = jitter()
				} else {
					end = jitter()
				}
			}
			c.intervals = append(c.intervals, refInterval{start, end})
			ivs = append(ivs, clock(start)+"-"+clock(end))
		}
	}

	r := c.reading
	return pacing.Spec{
		StartDate:       fmt.Sprintf("%04d-%02d-%02d %02d:%02d", r[0], r[1], r[2], r[3], r[4]),
		TimeZone:        name,
		SMSPerBlock:     c.sms,
		MinutesPerBlock: c.mins,
		Days:            strings.Join(days, ","),
		TimeIntervals:   strings.Join(ivs, ","),
	}, c
}

func TestScheduleMatchesReference(t *testing.T) {
	t.Parallel()
	const seed = 20260504
	cases := 250
	if testing.Short() {
		cases = 40
	}
	for i := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			spec, ref := randomCampaign(t, rng)
			blocks := 1 + rng.IntN(20)
			recipients := (blocks-1)*spec.SMSPerBlock + 1 + rng.IntN(spec.SMSPerBlock)
			t.Logf("seed %d case %d: %+v, %d recipients", seed, i, spec, recipients)

			p, err := pacing.Parse(spec)
			require.NoError(t, err)
			require.Equal(t, blocks, p.Blocks(recipients))
			got := p.Schedule(recipients, 0)
			requireTimes(t, ref.starts(blocks), starts(got))

			next := 0
			for k, b := range got {
				require.Equal(t, k, b.Index)
				require.True(t, ref.allowed(b.Start), "block %d starts outside the windows", k)
				require.Equal(t, ref.loc, b.Start.Location())
				if k > 0 {
					require.True(t, b.Start.After(got[k-1].Start), "starts strictly increase")
					require.GreaterOrEqual(t, b.Start.Sub(got[k-1].Start), time.Duration(spec.MinutesPerBlock)*time.Minute)
				}
				require.Equal(t, next, b.First, "recipients are covered in order, each once")
				require.Positive(t, b.Count)
				require.LessOrEqual(t, b.Count, spec.SMSPerBlock)
				next += b.Count
			}
			require.Equal(t, recipients, next)
		})
	}
}

// TestWindowsMatchReference sweeps two days minute by minute, mostly around
// offset changes, and checks Allowed, NextAllowed and WindowEnd at every
// minute and half a minute later against the reference.
func TestWindowsMatchReference(t *testing.T) {
	t.Parallel()
	const seed = 7
	cases := 120
	if testing.Short() {
		cases = 20
	}
	for i := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			spec, ref := randomCampaign(t, rng)
			t.Logf("seed %d case %d: %+v", seed, i, spec)
			p, err := pacing.Parse(spec)
			require.NoError(t, err)

			const sweep, ahead = 2 * 24 * 60, 16 * 24 * 60
			origin := ref.startInstant().Add(-time.Duration(rng.IntN(24*60)) * time.Minute)
			allowed := make([]bool, sweep+ahead)
			for m := range allowed {
				allowed[m] = ref.allowed(origin.Add(time.Duration(m) * time.Minute))
			}
			// nextOn[m]: first minute ≥ m that is allowed; nextOff[m]: first
			// minute ≥ m that is not; -1 when the sweep does not reach one.
			nextOn, nextOff := make([]int, len(allowed)+1), make([]int, len(allowed)+1)
			nextOn[len(allowed)], nextOff[len(allowed)] = -1, -1
			for m := len(allowed) - 1; m >= 0; m-- {
				nextOn[m], nextOff[m] = nextOn[m+1], nextOff[m+1]
				if allowed[m] {
					nextOn[m] = m
				} else {
					nextOff[m] = m
				}
			}
			minute := func(m int) time.Time { return origin.Add(time.Duration(m) * time.Minute) }
			for m := range sweep {
				for _, at := range []time.Time{minute(m), minute(m).Add(30 * time.Second)} {
					require.Equal(t, allowed[m], p.Allowed(at), "Allowed(%s)", at)
					next := p.NextAllowed(at)
					switch {
					case allowed[m]:
						require.True(t, next.Equal(at), "NextAllowed(%s) = %s", at, next)
					case nextOn[m] >= 0:
						require.True(t, next.Equal(minute(nextOn[m])), "NextAllowed(%s) = %s, want %s", at, next, minute(nextOn[m]))
					}
					end := p.WindowEnd(at)
					switch {
					case !allowed[m]:
						require.True(t, end.Equal(at), "WindowEnd(%s) of a disallowed instant", at)
					case nextOff[m] >= 0:
						require.True(t, end.Equal(minute(nextOff[m])), "WindowEnd(%s) = %s, want %s", at, end, minute(nextOff[m]))
					default:
						require.True(t, end.IsZero() || !end.Before(minute(len(allowed))), "WindowEnd(%s) = %s inside an all-allowed sweep", at, end)
					}
				}
			}
		})
	}
}
