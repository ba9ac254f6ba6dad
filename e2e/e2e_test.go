// Package e2e drives smsq the way its users do: the enqueue command's code
// path, a real worker (in process, or as a separate process that gets
// SIGKILLed), a private redis-server and the provider fakes.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/cli"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	"github.com/smsq/smsq/tasks"
)

// bundle is what a test gets from setup.
type bundle struct {
	redis   *redistest.Server
	keccel  *sbkeccel.Server
	environ []string
	cfg     config.Config
}

func setup(t *testing.T, fake sbkeccel.Options) *bundle {
	t.Helper()
	b := &bundle{redis: redistest.Start(t), keccel: sbkeccel.New(fake)}
	hs := httptest.NewServer(b.keccel)
	t.Cleanup(func() { hs.Close(); _ = b.keccel.Close() })
	b.environ = []string{
		"SMSQ_REDIS__URL=" + b.redis.URL(),
		"SMSQ_PROVIDERS__KECCEL__ENABLED=true",
		"SMSQ_PROVIDERS__KECCEL__BASE_URL=" + hs.URL + sbkeccel.BasePath,
		"SMSQ_PROVIDERS__KECCEL__TOKEN=" + sbkeccel.DefaultToken,
		"SMSQ_PROVIDERS__KECCEL__FROM=SMSQ",
		"SMSQ_SEND__RETRY_BASE=200ms",
		"SMSQ_SEND__RETRY_MAX=1s",
		"SMSQ_WORKER__HTTP_ADDR=-",
		"SMSQ_LOG__LEVEL=warn",
	}
	cfg, err := config.Load("", b.environ)
	require.NoError(t, err)
	b.cfg = cfg
	return b
}

// startWorker runs a worker in this process until the test ends.
func (b *bundle) startWorker(t *testing.T) *syncBuffer {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunWorker(ctx, b.cfg, logs, app.WorkerOptions{}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("worker did not stop within 30s")
		}
	})
	return logs
}

// enqueue runs the enqueue command with --json and decodes its output.
func (b *bundle) enqueue(t *testing.T, v any, args ...string) int {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Execute(context.Background(), append(args, "--json"), &out, &errb, b.environ)
	if v != nil && out.Len() > 0 {
		require.NoError(t, json.Unmarshal(out.Bytes(), v), "output: %s / %s", out.String(), errb.String())
	}
	return code
}

func (b *bundle) waitState(t *testing.T, id string, want ledger.State) ledger.Record {
	t.Helper()
	l := ledger.New(b.redis.Client(), ledger.Options{})
	var rec ledger.Record
	require.Eventually(t, func() bool {
		var err error
		rec, err = l.Get(context.Background(), id)
		return err == nil && reached(rec.State, want)
	}, 60*time.Second, 20*time.Millisecond, "message %s never reached %s (last: %+v)", id, want, rec)
	return rec
}

func TestSendEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, sbkeccel.Options{})
	b.startWorker(t)

	var acc tasks.Accepted
	code := b.enqueue(t, &acc, "send", "--provider", "keccel", "--to", "+243 81 234 5678", "--text", "Your code is 4321", "--id", "otp-1")
	require.Zero(t, code)
	require.Equal(t, "otp-1", acc.Message.ID)
	require.Equal(t, ledger.Queued, acc.Message.State)

	rec := b.waitState(t, "otp-1", ledger.Submitted)
	require.Equal(t, fmt.Sprint(sbkeccel.FirstMessageID), rec.ProviderID)
	require.Equal(t, 1, rec.Attempts)
	require.Equal(t, "+243812345678", rec.To)

	reqs := b.keccel.Recorder().Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	require.Equal(t, "POST", r.Method)
	require.Equal(t, "/sms/v2/message.asp", r.Path)
	require.Contains(t, r.Header.Get("Content-Type"), "application/json")
	var body map[string]string
	require.NoError(t, json.Unmarshal(r.Body, &body))
	require.Equal(t, map[string]string{"token": sbkeccel.DefaultToken, "to": "243812345678", "from": "SMSQ", "message": "Your code is 4321"}, body)

	var got ledger.Record
	require.Zero(t, b.enqueue(t, &got, "status", "otp-1"))
	require.True(t, reached(got.State, ledger.Submitted), got.State)
	require.Equal(t, rec.ProviderID, got.ProviderID)
	require.NotContains(t, got.To, "812345678", "status output masks the number")
}

func TestSameIDTwiceSendsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, sbkeccel.Options{})
	var first, second tasks.Accepted
	require.Zero(t, b.enqueue(t, &first, "send", "-p", "keccel", "-t", "+243812345678", "-m", "hi", "--id", "dup-1"))
	require.Zero(t, b.enqueue(t, &second, "send", "-p", "keccel", "-t", "+243812345678", "-m", "hi", "--id", "dup-1"))
	require.False(t, first.Duplicate)
	require.True(t, second.Duplicate)
	b.startWorker(t)
	b.waitState(t, "dup-1", ledger.Submitted)
	var third tasks.Accepted
	require.Zero(t, b.enqueue(t, &third, "send", "-p", "keccel", "-t", "+243812345678", "-m", "hi", "--id", "dup-1"))
	require.True(t, third.Duplicate, "after it was sent, the id still names the same message")
	require.True(t, reached(third.Message.State, ledger.Submitted), third.Message.State)
	time.Sleep(300 * time.Millisecond) // give a wrong second send the chance to show up
	require.Equal(t, 1, b.keccel.Recorder().AcceptedCount())
}

func TestBadInputIsRefusedBeforeQueueing(t *testing.T) {
	t.Parallel()
	b := setup(t, sbkeccel.Options{})
	long := strings.Repeat("ж", 67*11) // UCS-2 (Cyrillic), 11 segments > 10
	cases := []struct {
		name  string
		args  []string
		field string
	}{
		{"invalid number", []string{"-p", "keccel", "-t", "+24312", "-m", "hi"}, "to"},
		{"not a number", []string{"-p", "keccel", "-t", "hello", "-m", "hi"}, "to"},
		{"empty text", []string{"-p", "keccel", "-t", "+243812345678", "-m", "  "}, "text"},
		{"too many segments", []string{"-p", "keccel", "-t", "+243812345678", "-m", long}, "text"},
		{"unknown provider", []string{"-p", "twilio", "-t", "+243812345678", "-m", "hi"}, "provider"},
		{"disabled provider", []string{"-p", "sakari", "-t", "+243812345678", "-m", "hi"}, "provider"},
		{"bad sender", []string{"-p", "keccel", "-t", "+243812345678", "-m", "hi", "-f", "A-sender-name-too-long"}, "from"},
		{"bad id", []string{"-p", "keccel", "-t", "+243812345678", "-m", "hi", "--id", "has space"}, "id"},
	}
	for _, tc := range cases {
		var out struct {
			Error  string `json:"error"`
			Fields []struct{ Field, Reason string }
		}
		code := b.enqueue(t, &out, append([]string{"send"}, tc.args...)...)
		require.Equal(t, 1, code, tc.name)
		require.NotEmpty(t, out.Error, tc.name)
		require.Len(t, out.Fields, 1, tc.name)
		require.Equal(t, tc.field, out.Fields[0].Field, tc.name)
	}
	rdb := b.redis.Client()
	keys := rdb.Keys(context.Background(), "*").Val()
	require.Empty(t, keys, "nothing was queued or recorded")
}

func TestMalformedConfigIsAClearError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown key":      {"worker:\n  concurency: 3\n", "concurency"},
		"bad duration":     {"worker:\n  shutdown_timeout: soon\n", "shutdown_timeout"},
		"missing token":    {"redis:\n  url: redis://127.0.0.1:1/0\nproviders:\n  keccel:\n    enabled: true\n    from: SMSQ\n", "providers.keccel.token"},
		"no provider":      {"redis:\n  url: redis://127.0.0.1:1/0\n", "providers"},
		"bad redis url":    {"redis:\n  url: http://x\n", "redis.url"},
		"not yaml":         {"worker: [\n", "config"},
		"bad log format":   {"log:\n  format: xml\n", "log.format"},
		"bad throttle":     {"redis:\n  url: redis://127.0.0.1:1/0\nproviders:\n  keccel:\n    enabled: true\n    token: t\n    from: SMSQ\n    throttle:\n      rate: fast\n", "throttle"},
		"bad concurrency":  {"worker:\n  concurrency: -1\n", "worker.concurrency"},
		"two redis setups": {"redis:\n  url: redis://127.0.0.1:1/0\n  addr: 127.0.0.1:2\n", "redis"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
		require.NoError(t, os.WriteFile(p, []byte(tc.yaml), 0o600))
		_, err := config.Load(p, nil)
		require.Error(t, err, name)
		require.Contains(t, err.Error(), tc.want, name)

		var out, errb bytes.Buffer
		code := cli.Execute(context.Background(), []string{"send", "-c", p, "-p", "keccel", "-t", "+243812345678", "-m", "x"}, &out, &errb, nil)
		require.Equal(t, 1, code, name)
		require.Contains(t, errb.String(), tc.want, name)
	}
}

// TestKilledWorkerLosesNothing SIGKILLs a real worker process mid-run and
// checks every message queued before, during and after reaches the fake.
func TestKilledWorkerLosesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, sbkeccel.Options{})
	bin := buildWorker(t)

	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), b.environ...)
		var logs syncBuffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
		return cmd
	}
	w := start()
	send := func(from, to int) {
		for i := from; i < to; i++ {
			require.Zero(t, b.enqueue(t, nil, "send", "-p", "keccel", "-t", fmt.Sprintf("+2438123%05d", i), "-m", "m", "--id", fmt.Sprintf("k-%d", i)))
		}
	}
	b.keccel.Faults().Set(sbkeccelSlow())
	send(0, 40)
	// Kill while messages are in flight (the fake answers slowly).
	require.Eventually(t, func() bool { return b.keccel.Recorder().Calls() >= 5 }, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, w.Process.Signal(killSignal()))
	_, _ = w.Process.Wait()
	send(40, 80) // queued while no worker runs
	b.keccel.Faults().Set(sbkeccelFast())
	start()
	l := ledger.New(b.redis.Client(), ledger.Options{})
	// asynq recovers the killed worker's in-flight tasks once their lease
	// expires (about 30 s, checked each minute).
	require.Eventually(t, func() bool {
		for i := 0; i < 80; i++ {
			rec, err := l.Get(context.Background(), fmt.Sprintf("k-%d", i))
			if err != nil || !reached(rec.State, ledger.Submitted) {
				return false
			}
		}
		return true
	}, 150*time.Second, 250*time.Millisecond)
	per := b.keccel.Recorder().PerDestination()
	for i := 0; i < 80; i++ {
		require.GreaterOrEqual(t, per[fmt.Sprintf("2438123%05d", i)], 1, "message %d reached the provider", i)
	}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

func buildWorker(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "smsq-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "worker")
		if runtime.GOOS == "windows" {
			buildPath += ".exe"
		}
		out, err := exec.Command("go", "build", "-o", buildPath, "../cmd/worker").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return buildPath
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// reached reports whether a message in state got has reached want: a
// submitted message may already have been delivered when we look.
func reached(got, want ledger.State) bool {
	return got == want || want == ledger.Submitted && got == ledger.Delivered
}

// A producer that dies between queueing a message and recording it leaves
// a task with no ledger record. The worker rebuilds the record from the
// task, owner included, and sends the message once.
func TestWorkerRebuildsTheRecordOfAProducerThatDied(t *testing.T) {
	t.Parallel()
	b := setup(t, sbkeccel.Options{})
	task, err := tasks.NewSendTask(tasks.SendPayload{ID: "orphan-1", Provider: "keccel", To: "+243812345678",
		Text: "Your code is 4321", Producer: "shop"})
	require.NoError(t, err)
	aq := asynq.NewClientFromRedisClient(b.redis.Client())
	_, err = aq.Enqueue(task)
	require.NoError(t, err)
	_, err = ledger.New(b.redis.Client(), ledger.Options{}).Get(context.Background(), "orphan-1")
	require.ErrorIs(t, err, ledger.ErrNotFound, "only the task exists")

	b.startWorker(t)
	rec := b.waitState(t, "orphan-1", ledger.Submitted)
	require.Equal(t, "shop", rec.Producer, "the owner survives the rebuild")
	require.Equal(t, "keccel", rec.Provider)
	require.Equal(t, "+243812345678", rec.To)
	require.Equal(t, 1, rec.Attempts)
	require.Equal(t, ledger.SourceWorker, rec.History[0].Source, "the record says who wrote it")
	require.Equal(t, 1, b.keccel.Recorder().AcceptedCount())
}
