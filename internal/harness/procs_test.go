package harness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	QuietRedis()
	goleak.VerifyTestMain(m)
}

// shell starts sh -c script as a Proc in a fresh directory.
func shell(t *testing.T, name, script string) *Proc {
	t.Helper()
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	p, err := StartProc(t.TempDir(), name, sh, []string{"-c", script}, nil)
	require.NoError(t, err)
	t.Cleanup(p.Kill)
	return p
}

func TestProcLogsItsOutputAndStopsOnTerm(t *testing.T) {
	t.Parallel()
	p := shell(t, "echo", `echo "line one"; echo "line two" >&2; echo ready; exec sleep 60`)
	require.Equal(t, "echo", p.Name())
	require.Equal(t, "echo.log", filepath.Base(p.Log()))
	require.NoError(t, p.WaitReady(context.Background(), 10*time.Second, func() bool { return p.LogContains("ready") }))

	var lines []string
	p.LogLines(func(b []byte) { lines = append(lines, string(b)) })
	require.Equal(t, []string{"line one", "line two", "ready"}, lines)
	require.Equal(t, "…ready", p.Tail(5))
	require.False(t, p.Exited())
	require.False(t, p.Expected())

	require.True(t, p.Stop(syscall.SIGTERM, 10*time.Second), "sleep ends on SIGTERM")
	require.True(t, p.Exited())
	require.True(t, p.Expected(), "a stop is intended")
	require.False(t, p.Expect(), "the exit was claimed already")
}

func TestProcStopKillsWhatIgnoresTheSignal(t *testing.T) {
	t.Parallel()
	p := shell(t, "stubborn", `trap "" TERM; echo trapped; while :; do sleep 0.05; done`)
	require.NoError(t, p.WaitReady(context.Background(), 10*time.Second, func() bool { return p.LogContains("trapped") }))
	require.False(t, p.Stop(syscall.SIGTERM, 100*time.Millisecond), "killed after the grace")
	<-p.Done()
}

func TestProcExitNobodyAskedForIsClaimedOnce(t *testing.T) {
	t.Parallel()
	p := shell(t, "crash", `exit 3`)
	<-p.Done()
	require.False(t, p.Expected())
	require.True(t, p.Expect(), "the first to find the crash claims it")
	require.False(t, p.Expect())
}

func TestWaitReadyReportsAnExitWithTheLog(t *testing.T) {
	t.Parallel()
	p := shell(t, "broken", `echo "config: redis.url: bad"; exit 1`)
	err := p.WaitReady(context.Background(), 10*time.Second, func() bool { return false })
	require.ErrorContains(t, err, "broken exited at start: config: redis.url: bad")
}

func TestWaitForNamesWhatDidNotHappen(t *testing.T) {
	t.Parallel()
	err := WaitFor(context.Background(), 0, time.Millisecond, "replica linked", func() bool { return false })
	require.EqualError(t, err, "replica linked: not within 0s")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = WaitFor(ctx, time.Hour, time.Hour, "never", func() bool { return false })
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, WaitFor(ctx, 0, time.Hour, "already", func() bool { return true }))
}

func TestBuildFailsWithTheCompilersWords(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/x\n\ngo 1.22\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "cmd", "bad"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "cmd", "bad", "main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644))
	err := Build(context.Background(), root, filepath.Join(t.TempDir(), "bin"), "bad")
	require.ErrorContains(t, err, "go build bad")
	require.ErrorContains(t, err, "undefinedThing")

	require.NoError(t, os.WriteFile(filepath.Join(root, "cmd", "bad", "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644))
	bin := filepath.Join(t.TempDir(), "bin")
	require.NoError(t, Build(context.Background(), root, bin, "bad"))
	fi, err := os.Stat(filepath.Join(bin, "bad"))
	require.NoError(t, err)
	require.False(t, fi.IsDir())
	require.NoError(t, Build(context.Background(), "", bin), "nothing to build")
}

func TestWorkspaceRemovesATemporaryDirectoryUnlessKept(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	w, err := NewWorkspace("test", RunOptions{Out: &out})
	require.NoError(t, err)
	require.Contains(t, filepath.Base(w.Dir), "smsq-test-")
	require.Equal(t, filepath.Join(w.Dir, "bin", "worker"), w.Bin("worker"))
	w.Logf("up %d", 3)
	require.Regexp(t, `^  \[ +\d+\.\ds\] up 3\n$`, out.String())
	w.Close()
	_, err = os.Stat(w.Dir)
	require.ErrorIs(t, err, os.ErrNotExist)

	out.Reset()
	w, err = NewWorkspace("test", RunOptions{Out: &out, KeepLogs: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(w.Dir) })
	w.Close()
	require.DirExists(t, w.Dir)
	require.Equal(t, "logs and data kept in "+w.Dir+"\n", out.String())

	out.Reset()
	given := filepath.Join(t.TempDir(), "run")
	w, err = NewWorkspace("test", RunOptions{Out: &out, Dir: given})
	require.NoError(t, err)
	require.Equal(t, given, w.Dir)
	w.Close()
	require.DirExists(t, given, "a directory the caller named is never removed")
	require.Contains(t, out.String(), given)
}

func TestWorkerLabelsReadBack(t *testing.T) {
	t.Parallel()
	require.Equal(t, "w2g5", WorkerLabel(2, 5))
	slot, ok := SlotOf(WorkerLabel(12, 0))
	require.True(t, ok)
	require.Equal(t, 12, slot)
	for _, bad := range []string{"", "s0", "wxg1", "g2"} {
		_, ok := SlotOf(bad)
		require.False(t, ok, bad)
	}
}
