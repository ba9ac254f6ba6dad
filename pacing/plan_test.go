package pacing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/pacing"
)

func mustParse(t *testing.T, s pacing.Spec) *pacing.Plan {
	t.Helper()
	p, err := pacing.Parse(s)
	require.NoError(t, err)
	return p
}

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// starts lists the block starts of a schedule.
func starts(blocks []pacing.Block) []time.Time {
	out := make([]time.Time, len(blocks))
	for i, b := range blocks {
		out[i] = b.Start
	}
	return out
}

func requireTimes(t *testing.T, want, got []time.Time) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.True(t, want[i].Equal(got[i]), "block %d: want %s, got %s", i, want[i], got[i])
	}
}

func TestScheduleWeekdayWindowsInMadrid(t *testing.T) {
	t.Parallel()
	madrid := zone(t, "Europe/Madrid")
	p := mustParse(t, pacing.Spec{
		StartDate: "2026-05-08 12:30", TimeZone: "Europe/Madrid", // a Friday
		SMSPerBlock: 1000, MinutesPerBlock: 20,
		Days: "1,2,3,4,5", TimeIntervals: "09:00-13:00,17:00-21:00",
	})
	at := func(d, h, m int) time.Time { return time.Date(2026, 5, d, h, m, 0, 0, madrid) }

	blocks := p.Schedule(9500, 0)
	requireTimes(t, []time.Time{
		at(8, 12, 30), at(8, 12, 50), // 13:10 is outside: wait for the evening window
		at(8, 17, 0), at(8, 17, 20), at(8, 17, 40), at(8, 18, 0), at(8, 18, 20), at(8, 18, 40), at(8, 19, 0),
		at(8, 19, 20),
	}, starts(blocks))
	require.Equal(t, pacing.Block{Index: 9, Start: blocks[9].Start, First: 9000, Count: 500}, blocks[9])
	require.Equal(t, madrid, blocks[0].Start.Location(), "times come back in the campaign's zone")

	// Late on Friday the next block waits for Monday morning.
	late := mustParse(t, pacing.Spec{
		StartDate: "2026-05-08 20:30", TimeZone: "Europe/Madrid",
		SMSPerBlock: 1000, MinutesPerBlock: 20,
		Days: "1,2,3,4,5", TimeIntervals: "09:00-13:00,17:00-21:00",
	})
	requireTimes(t, []time.Time{at(8, 20, 30), at(8, 20, 50), at(11, 9, 0)}, starts(late.Schedule(3000, 0)))

	// A start on Saturday waits too.
	sat := mustParse(t, pacing.Spec{
		StartDate: "2026-05-09 10:00", TimeZone: "Europe/Madrid",
		SMSPerBlock: 1, MinutesPerBlock: 1, Days: "1,2,3,4,5", TimeIntervals: "09:00-13:00",
	})
	require.True(t, sat.Start().Equal(at(9, 10, 0)))
	requireTimes(t, []time.Time{at(11, 9, 0), at(11, 9, 1)}, starts(sat.Schedule(2, 0)))
}

func TestIntervalCrossingMidnightBelongsToItsStartDay(t *testing.T) {
	t.Parallel()
	madrid := zone(t, "Europe/Madrid")
	p := mustParse(t, pacing.Spec{
		StartDate: "2026-05-07 21:00", TimeZone: "Europe/Madrid", // Thursday
		SMSPerBlock: 10, MinutesPerBlock: 60, Days: "5", TimeIntervals: "22:00-02:00",
	})
	at := func(d, h, m int) time.Time { return time.Date(2026, 5, d, h, m, 0, 0, madrid) }

	require.False(t, p.Allowed(at(7, 23, 0)), "Thursday night: the interval belongs to Friday only")
	require.False(t, p.Allowed(at(8, 1, 0)), "early Friday belongs to Thursday's interval, and Thursday is not allowed")
	require.True(t, p.Allowed(at(8, 22, 0)))
	require.True(t, p.Allowed(at(9, 1, 59)), "Saturday 01:59 still belongs to Friday's interval")
	require.False(t, p.Allowed(at(9, 2, 0)), "the end is exclusive")
	require.False(t, p.Allowed(at(9, 22, 0)), "Saturday is not an allowed day")

	requireTimes(t, []time.Time{at(8, 22, 0), at(8, 23, 0), at(9, 0, 0), at(9, 1, 0), at(15, 22, 0)},
		starts(p.Schedule(50, 0)))
	require.True(t, p.WindowEnd(at(8, 23, 30)).Equal(at(9, 2, 0)))
}

func TestEndAt2400AndFullDayIntervals(t *testing.T) {
	t.Parallel()
	utc := time.UTC
	p := mustParse(t, pacing.Spec{
		StartDate: "2026-05-04 20:00", TimeZone: "UTC",
		SMSPerBlock: 5, MinutesPerBlock: 90, TimeIntervals: "20:00-24:00",
	})
	at := func(d, h, m int) time.Time { return time.Date(2026, 5, d, h, m, 0, 0, utc) }
	requireTimes(t, []time.Time{at(4, 20, 0), at(4, 21, 30), at(4, 23, 0), at(5, 20, 0)}, starts(p.Schedule(20, 0)))
	require.True(t, p.Allowed(at(4, 23, 59)))
	require.True(t, p.WindowEnd(at(4, 23, 0)).Equal(at(5, 0, 0)))

	// Sunday 22:00-02:00 wraps into Monday morning.
	wrap := mustParse(t, pacing.Spec{StartDate: "2026-05-04 00:00", TimeZone: "UTC", SMSPerBlock: 1, MinutesPerBlock: 1, Days: "7", TimeIntervals: "22:00-02:00"})
	require.True(t, wrap.Allowed(at(11, 1, 0)), "Monday 01:00 is in Sunday's interval")
	require.False(t, wrap.Allowed(at(5, 1, 0)), "but Tuesday 01:00 follows a Monday, which is not allowed")
	require.True(t, wrap.WindowEnd(at(10, 23, 0)).Equal(at(11, 2, 0)))

	// 10:00-10:00 is a 24-hour window from 10:00 on each allowed day.
	day := mustParse(t, pacing.Spec{StartDate: "2026-05-04 00:00", TimeZone: "UTC", SMSPerBlock: 1, MinutesPerBlock: 1, Days: "1", TimeIntervals: "10:00-10:00"})
	require.False(t, day.Allowed(at(4, 9, 59)))
	require.True(t, day.Allowed(at(4, 10, 0)))
	require.True(t, day.Allowed(at(5, 9, 59)))
	require.False(t, day.Allowed(at(5, 10, 0)))
	require.True(t, day.WindowEnd(at(4, 10, 0)).Equal(at(5, 10, 0)))

	// Every day all day never closes.
	all := mustParse(t, pacing.Spec{StartDate: "2026-05-04 00:00", TimeZone: "Europe/Madrid", SMSPerBlock: 1, MinutesPerBlock: 1, TimeIntervals: "00:00-00:00"})
	require.True(t, all.WindowEnd(at(4, 10, 0)).IsZero())
	// Two adjacent windows are one window.
	adj := mustParse(t, pacing.Spec{StartDate: "2026-05-04 00:00", TimeZone: "UTC", SMSPerBlock: 1, MinutesPerBlock: 1, TimeIntervals: "09:00-10:00,10:00-11:00"})
	require.True(t, adj.WindowEnd(at(4, 9, 0)).Equal(at(4, 11, 0)))
}

func TestDaylightSavingEuropeMadrid(t *testing.T) {
	t.Parallel()
	madrid := zone(t, "Europe/Madrid")
	utc := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, time.UTC) }
	// 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
	spring := func(days, ivs string) *pacing.Plan {
		return mustParse(t, pacing.Spec{StartDate: "2026-03-29 00:00", TimeZone: "Europe/Madrid", SMSPerBlock: 1, MinutesPerBlock: 60, Days: days, TimeIntervals: ivs})
	}
	p := spring("", "02:30-04:00")
	require.True(t, p.NextAllowed(p.Start()).Equal(utc(3, 29, 1, 0)), "a window starting in the gap opens at the jump")
	require.True(t, p.WindowEnd(utc(3, 29, 1, 0)).Equal(utc(3, 29, 2, 0)), "and closes at 04:00 CEST")

	p = spring("7", "02:15-02:45")
	require.True(t, p.NextAllowed(p.Start()).Equal(time.Date(2026, 4, 5, 2, 15, 0, 0, madrid)), "a window inside the gap does not occur that day")

	p = spring("", "01:00-02:30")
	require.True(t, p.WindowEnd(utc(3, 29, 0, 30)).Equal(utc(3, 29, 1, 0)), "an end inside the gap closes at the jump")

	p = spring("", "")
	st := starts(mustParse(t, pacing.Spec{StartDate: "2026-03-29 01:30", TimeZone: "Europe/Madrid", SMSPerBlock: 1, MinutesPerBlock: 60}).Schedule(3, 0))
	requireTimes(t, []time.Time{utc(3, 29, 0, 30), utc(3, 29, 1, 30), utc(3, 29, 2, 30)}, st)
	require.Equal(t, "03:30", st[1].Format("15:04"), "blocks are spaced in real minutes: 01:30 CET + 60 min reads 03:30 CEST")

	gap := mustParse(t, pacing.Spec{StartDate: "2026-03-29 02:30", TimeZone: "Europe/Madrid"})
	require.True(t, gap.Start().Equal(utc(3, 29, 1, 0)), "a skipped start_date is the moment of the jump")

	// 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
	fall := mustParse(t, pacing.Spec{StartDate: "2026-10-25 00:00", TimeZone: "Europe/Madrid", SMSPerBlock: 1, MinutesPerBlock: 1, TimeIntervals: "02:00-02:30"})
	first := fall.NextAllowed(fall.Start())
	require.True(t, first.Equal(utc(10, 25, 0, 0)), "02:00 CEST")
	require.True(t, fall.WindowEnd(first).Equal(utc(10, 25, 0, 30)))
	second := fall.NextAllowed(utc(10, 25, 0, 30))
	require.True(t, second.Equal(utc(10, 25, 1, 0)), "the repeated 02:00 CET opens the window again")
	require.True(t, fall.WindowEnd(second).Equal(utc(10, 25, 1, 30)))

	twice := mustParse(t, pacing.Spec{StartDate: "2026-10-25 02:30", TimeZone: "Europe/Madrid"})
	require.True(t, twice.Start().Equal(utc(10, 25, 0, 30)), "a repeated start_date is its first occurrence")

	sched := mustParse(t, pacing.Spec{StartDate: "2026-10-25 01:00", TimeZone: "Europe/Madrid", SMSPerBlock: 1, MinutesPerBlock: 30, Days: "7", TimeIntervals: "01:00-04:00"})
	var want []time.Time
	for i := range 8 { // four real hours: the window's wall-clock hour 02:00-03:00 happens twice
		want = append(want, utc(10, 24, 23, 0).Add(time.Duration(i)*30*time.Minute))
	}
	want = append(want, time.Date(2026, 11, 1, 1, 0, 0, 0, madrid))
	requireTimes(t, want, starts(sched.Schedule(9, 0)))
}

func TestDaylightSavingAmericaNewYork(t *testing.T) {
	t.Parallel()
	ny := zone(t, "America/New_York")
	utc := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, time.UTC) }
	// 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
	p := mustParse(t, pacing.Spec{StartDate: "2026-03-08 00:00", TimeZone: "America/New_York", SMSPerBlock: 1, MinutesPerBlock: 1, TimeIntervals: "02:00-03:00"})
	require.True(t, p.NextAllowed(p.Start()).Equal(time.Date(2026, 3, 9, 2, 0, 0, 0, ny)), "02:00-03:00 does not exist on the spring-forward day")
	require.False(t, p.Allowed(utc(3, 8, 7, 0)))

	// 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00 UTC.
	f := mustParse(t, pacing.Spec{StartDate: "2026-11-01 00:00", TimeZone: "America/New_York", SMSPerBlock: 1, MinutesPerBlock: 1, TimeIntervals: "01:00-02:00"})
	open := f.NextAllowed(f.Start())
	require.True(t, open.Equal(utc(11, 1, 5, 0)), "01:00 EDT")
	require.True(t, f.WindowEnd(open).Equal(utc(11, 1, 7, 0)), "the repeated hour keeps the window open for two real hours")
	require.True(t, mustParse(t, pacing.Spec{StartDate: "2026-11-01 01:30", TimeZone: "America/New_York"}).Start().Equal(utc(11, 1, 5, 30)))
	require.True(t, mustParse(t, pacing.Spec{StartDate: "2026-03-08 02:30", TimeZone: "America/New_York"}).Start().Equal(utc(3, 8, 7, 0)))
}

func TestOtherZones(t *testing.T) {
	t.Parallel()
	// America/Santiago springs forward at midnight: 2026-09-06 00:00 -04 becomes 01:00 -03.
	santiago := mustParse(t, pacing.Spec{StartDate: "2026-09-06 00:30", TimeZone: "America/Santiago"})
	require.True(t, santiago.Start().Equal(time.Date(2026, 9, 6, 4, 0, 0, 0, time.UTC)), "forward to the jump, never back to the day before")

	// Australia/Lord_Howe moves only 30 minutes: 2026-10-04 02:00 +1030 becomes 02:30 +11.
	lh := mustParse(t, pacing.Spec{StartDate: "2026-10-04 00:00", TimeZone: "Australia/Lord_Howe", SMSPerBlock: 1, MinutesPerBlock: 1, TimeIntervals: "02:10-03:00"})
	require.True(t, lh.NextAllowed(lh.Start()).Equal(time.Date(2026, 10, 3, 15, 30, 0, 0, time.UTC)))

	// Asia/Kathmandu is 5:45 ahead of UTC all year.
	ktm := mustParse(t, pacing.Spec{StartDate: "2026-05-04 09:00", TimeZone: "Asia/Kathmandu", SMSPerBlock: 1, MinutesPerBlock: 1, TimeIntervals: "09:00-09:30"})
	require.True(t, ktm.Schedule(1, 0)[0].Start.Equal(time.Date(2026, 5, 4, 3, 15, 0, 0, time.UTC)))
	require.True(t, ktm.WindowEnd(ktm.Start()).Equal(time.Date(2026, 5, 4, 3, 45, 0, 0, time.UTC)))

	// Pacific/Apia skipped Friday 2011-12-30 (Thursday 23:59 -10 was followed by Saturday 00:00 +14).
	apia := zone(t, "Pacific/Apia")
	fri := mustParse(t, pacing.Spec{StartDate: "2011-12-29 10:00", TimeZone: "Pacific/Apia", SMSPerBlock: 1, MinutesPerBlock: 1, Days: "5"})
	require.True(t, fri.NextAllowed(fri.Start()).Equal(time.Date(2012, 1, 6, 0, 0, 0, 0, apia)), "the skipped Friday is absent")
	thu := mustParse(t, pacing.Spec{StartDate: "2011-12-29 10:00", TimeZone: "Pacific/Apia", SMSPerBlock: 1, MinutesPerBlock: 1, Days: "4", TimeIntervals: "22:00-02:00"})
	require.True(t, thu.WindowEnd(time.Date(2011, 12, 29, 23, 0, 0, 0, apia)).Equal(time.Date(2011, 12, 31, 0, 0, 0, 0, apia)),
		"Saturday 00:00 follows a Friday that never existed and is not in Thursday's interval")
}

func TestSubMinuteInstants(t *testing.T) {
	t.Parallel()
	p := mustParse(t, paced(nil))
	madrid := p.Location()
	in := time.Date(2026, 5, 4, 10, 0, 30, 5, madrid)
	require.True(t, p.NextAllowed(in).Equal(in), "an allowed instant is its own next allowed instant")
	require.True(t, p.WindowEnd(in).Equal(time.Date(2026, 5, 4, 13, 0, 0, 0, madrid)))
	out := time.Date(2026, 5, 4, 12, 59, 59, 999, madrid).Add(time.Second)
	require.True(t, p.NextAllowed(out).Equal(time.Date(2026, 5, 4, 17, 0, 0, 0, madrid)))
	require.True(t, p.WindowEnd(out).Equal(out), "WindowEnd of a disallowed instant is the instant itself")
}

func TestUnpacedPlanSendsEverythingAtStart(t *testing.T) {
	t.Parallel()
	p := mustParse(t, pacing.Spec{StartDate: "2026-05-09 03:00", TimeZone: "Europe/Madrid"})
	require.False(t, p.Paced())
	start := time.Date(2026, 5, 9, 3, 0, 0, 0, p.Location())
	require.Equal(t, []pacing.Block{{Index: 0, Start: start, First: 0, Count: 250000}}, p.Schedule(250000, 0))
	require.Equal(t, 1, p.Blocks(250000))
	require.Equal(t, 0, p.Blocks(0))
	require.Empty(t, p.Schedule(0, 0))
	require.True(t, p.Allowed(start.Add(-time.Hour)), "no windows")
	require.True(t, p.WindowEnd(start).IsZero())
	require.True(t, p.NextAllowed(start).Equal(start))

	later := start.Add(5 * time.Hour)
	require.True(t, p.Resume(later, time.Time{}).Equal(later), "after downtime the single block resumes at once")
	require.True(t, p.Resume(start.Add(-time.Hour), time.Time{}).Equal(start), "but never before start_date")
}

func TestBlocksAndLimit(t *testing.T) {
	t.Parallel()
	p := mustParse(t, paced(nil))
	require.Equal(t, 0, p.Blocks(0))
	require.Equal(t, 1, p.Blocks(1))
	require.Equal(t, 1, p.Blocks(1000))
	require.Equal(t, 2, p.Blocks(1001))
	require.Equal(t, 1000, p.Blocks(1_000_000))

	all := p.Schedule(4500, 0)
	require.Len(t, all, 5)
	require.Equal(t, 500, all[4].Count)
	require.Equal(t, all[:2], p.Schedule(4500, 2))
	require.Equal(t, all[2:], p.ScheduleFrom(2, all[2].Start, 4500, 0))
	require.Nil(t, p.ScheduleFrom(5, all[4].Start, 4500, 0))
	require.True(t, p.BlockStart(3, all[2].Start).Equal(all[3].Start))
}

func TestResumeAfterDowntimeDoesNotBurst(t *testing.T) {
	t.Parallel()
	p := mustParse(t, paced(nil)) // Mon–Fri 09:00–13:00,17:00–21:00, a block per 10 minutes
	madrid := p.Location()
	at := func(d, h, m int) time.Time { return time.Date(2026, 5, d, h, m, 0, 0, madrid) }
	last := at(4, 9, 30) // Monday

	require.True(t, p.Resume(at(4, 9, 33), last).Equal(at(4, 9, 40)), "a quick restart keeps the spacing")
	resumed := p.Resume(at(4, 11, 5), last)
	require.True(t, resumed.Equal(at(4, 11, 5)), "missed blocks start from the restart, not from their nominal times")
	next := p.ScheduleFrom(3, resumed, 10000, 3)
	requireTimes(t, []time.Time{at(4, 11, 5), at(4, 11, 15), at(4, 11, 25)}, starts(next))
	require.Equal(t, 3000, next[0].First)

	require.True(t, p.Resume(at(4, 14, 0), last).Equal(at(4, 17, 0)), "a restart outside the windows waits for the next one")
	require.True(t, p.Resume(at(8, 22, 0), last).Equal(at(11, 9, 0)), "or for the next allowed day")
	require.True(t, p.Resume(at(1, 8, 0), time.Time{}).Equal(at(4, 9, 30)), "with no block started yet, start_date bounds it")
	require.True(t, p.Resume(at(4, 12, 0), time.Time{}).Equal(at(4, 12, 0)))
}
