package harness

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/internal/redistest"
)

// environOf reads a running process's environment from /proc.
func environOf(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	require.NoError(t, err)
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// Not parallel: it sets an SMSQ_ variable in the test's own environment,
// which the fleet must keep from its processes.
func TestFleetStartsLabelledGenerationsWithTheirOwnSettings(t *testing.T) {
	t.Setenv("SMSQ_LOG__LEVEL", "bogus")
	srv := redistest.Start(t)
	env := func(label string) []string {
		e := append(BaseEnv(5*time.Second), "SMSQ_REDIS__URL="+srv.URL())
		return append(e, ProviderEnv("http://127.0.0.1:9/w/"+label, "keccel", 10)...)
	}
	c, err := Connect(env(""))
	require.NoError(t, err)
	defer c.Close()
	ws, err := NewWorkspace("fleet-test", RunOptions{Dir: t.TempDir(), Out: &strings.Builder{}})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, ws.Build(ctx, "worker", "scheduler"))

	fl := NewFleet(ws, c.Inspector, env)
	defer fl.StopAll(10 * time.Second)
	p0, err := fl.StartWorker(ctx, 0)
	require.NoError(t, err)
	sched, err := fl.StartScheduler(ctx)
	require.NoError(t, err)
	require.True(t, sched.LogContains(SchedulerStarted))

	environ := environOf(t, p0.Pid())
	require.Contains(t, environ, "SMSQ_LOG__LEVEL=info", "the run's settings, not the caller's")
	require.NotContains(t, environ, "SMSQ_LOG__LEVEL=bogus")
	require.Contains(t, strings.Join(environ, "\n"), "/w/w0g0/", "the label reaches the settings")
	require.Contains(t, strings.Join(environOf(t, sched.Pid()), "\n"), "/w/s0/")

	// A replacement in the same slot is the next generation, logging on
	// into the same file.
	p0.Stop(syscall.SIGTERM, 10*time.Second)
	p1, err := fl.StartWorker(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, p0.Log(), p1.Log())
	got, label := fl.Worker(0)
	require.Same(t, p1, got)
	require.Equal(t, "w0g1", label)
	require.Equal(t, 1, fl.Slots())
	require.Equal(t, []*Proc{p1, sched}, fl.All())
	require.Equal(t, []*Proc{sched}, fl.Schedulers())
	none, _ := fl.Worker(3)
	require.Nil(t, none)

	fl.StopAll(10 * time.Second)
	require.True(t, p1.Exited())
	require.True(t, sched.Exited())
	require.True(t, p1.Expected())
}
