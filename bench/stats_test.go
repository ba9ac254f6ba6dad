package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/internal/harness"
)

func at(ms ...int) []time.Time {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]time.Time, len(ms))
	for i, m := range ms {
		out[i] = base.Add(time.Duration(m) * time.Millisecond)
	}
	return out
}

func TestCountInIsHalfOpen(t *testing.T) {
	t.Parallel()
	ts := at(0, 500, 1000, 1500, 2000)
	require.Equal(t, 2, countIn(ts, ts[0], ts[2]))
	require.Equal(t, 5, countIn(ts, ts[0], ts[4].Add(time.Nanosecond)))
	require.Zero(t, countIn(ts, ts[4].Add(time.Millisecond), ts[4].Add(time.Second)))
}

func TestMaxInWindowSlidesOverEveryStart(t *testing.T) {
	t.Parallel()
	// Evenly spaced at 20ms: 50 fit in any 1s window.
	even := make([]int, 200)
	for i := range even {
		even[i] = 20 * i
	}
	require.Equal(t, 50, maxInWindow(at(even...), time.Second))
	// A burst straddling a whole-second boundary is still found.
	require.Equal(t, 4, maxInWindow(at(0, 900, 950, 1001, 1050, 2500), time.Second))
	require.Zero(t, maxInWindow(nil, time.Second))
}

func TestPerSecondCountsWholeSecondsOnly(t *testing.T) {
	t.Parallel()
	ts := at(0, 100, 1100, 1200, 1300, 2500)
	lo, hi := perSecond(ts, ts[0], ts[0].Add(2500*time.Millisecond))
	require.Equal(t, 2, lo, "the half second at the end is not a whole second")
	require.Equal(t, 3, hi)
}

func TestThroughputAndMedian(t *testing.T) {
	t.Parallel()
	require.InDelta(t, 4.0, throughput(at(0, 250, 500, 750, 1000)), 1e-9)
	require.Zero(t, throughput(at(0)))
	require.InDelta(t, 2.0, median([]float64{3, 1, 2}), 1e-9)
	require.InDelta(t, 2.5, median([]float64{4, 1, 2, 3}), 1e-9)
}

func TestOptionsValidateNamesTheField(t *testing.T) {
	t.Parallel()
	require.NoError(t, Options{}.Validate())
	require.ErrorContains(t, Options{Workers: -1}.Validate(), "workers")
	require.ErrorContains(t, Options{Window: -time.Second}.Validate(), "window")
	o := Options{RunOptions: harness.RunOptions{Quick: true}}.withDefaults()
	require.Equal(t, 10*time.Second, o.Window)
	require.Equal(t, 3, o.Workers)
}

func TestRunRefusesUnknownScenario(t *testing.T) {
	t.Parallel()
	err := Run(t.Context(), Options{}, []string{"nope"})
	require.ErrorContains(t, err, `unknown scenario "nope"`)
	require.ErrorIs(t, Run(t.Context(), Options{}, nil), ErrNoScenario)
}

func TestProcEnvProfilesWorkerZeroAndLetsTheSchedulerSayItStarted(t *testing.T) {
	t.Parallel()
	e := &env{environ: []string{"SMSQ_WORKER__HTTP_ADDR=-", "SMSQ_LOG__LEVEL=warn"}}
	require.Equal(t, e.environ, e.procEnv("w0g0"), "no profiler unless asked")
	e.pprofAddr = "127.0.0.1:6060"
	require.ElementsMatch(t, []string{"SMSQ_LOG__LEVEL=warn", "SMSQ_WORKER__HTTP_ADDR=127.0.0.1:6060", "SMSQ_WORKER__PPROF=true"}, e.procEnv("w0g0"))
	require.Equal(t, e.environ, e.procEnv("w1g0"), "only the first worker serves the profiler")
	require.Contains(t, e.procEnv("s0"), "SMSQ_LOG__LEVEL=info", "the scheduler logs its start at info")
	require.NotContains(t, e.procEnv("s0"), "SMSQ_LOG__LEVEL=warn")
	e.environ = []string{"SMSQ_LOG__LEVEL=debug"}
	require.Equal(t, []string{"SMSQ_LOG__LEVEL=debug"}, e.procEnv("s0"), "a louder level stays")
}

func TestSentTwiceCountsDestinationsNotMessages(t *testing.T) {
	t.Parallel()
	require.Equal(t, 2, sentTwice(map[string]int{"a": 1, "b": 2, "c": 5, "d": 0}))
	require.Zero(t, sentTwice(nil))
}

func TestLastWinsKeepsOneEntryPerKey(t *testing.T) {
	t.Parallel()
	got := lastWins([]string{"A=1", "B=2", "A=3", "C=", "B=4"})
	require.Equal(t, []string{"A=3", "C=", "B=4"}, got)
}
