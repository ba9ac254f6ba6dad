package chaos

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer collects a run's output from its goroutines.
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

// TestQuickRunLosesNothing is the chaos run in small: 3,000 recipients and
// 200 single sends while two workers are SIGKILLed, Redis is killed and
// restarted, and the sandbox storms. Nothing may be lost, and every
// duplicate must be one smsq marked unknown, from a call in flight at a
// disruption.
func TestQuickRunLosesNothing(t *testing.T) {
	out := &syncBuffer{}
	res, err := Run(context.Background(), Options{RunOptions: harness.RunOptions{Quick: true, Dir: t.TempDir(), Out: out}})
	t.Log(out.String())
	require.NoError(t, err)
	require.Equal(t, 3000, res.Recipients)
	require.Equal(t, 200, res.Singles)
	require.Equal(t, 2, res.Kills)
	require.Equal(t, 1, res.RedisRestarts)
	require.Zero(t, res.Stuck, "everything settles")
	require.Zero(t, res.Lost, "nothing accepted is lost")
	require.Zero(t, res.GaveUp, "transient faults give nothing up")
	require.Zero(t, res.Unexpected)
	require.Zero(t, res.Unmarked, "every duplicate is marked unknown")
	require.Zero(t, res.Outside, "every duplicate was in flight at a disruption")
	require.LessOrEqual(t, res.Duplicates, res.InFlight)
	require.Zero(t, res.ProbeLost, "appendfsync always keeps every acknowledged write")
	require.Zero(t, res.UnexpectedExits, "processes ride out the Redis restart")
	require.Contains(t, out.String(), "all checks passed")
}

func TestPlanSpreadsDisruptionsAndStorms(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		window := 50 * time.Second
		p := makePlan(rng, window, 5, 1, 3, 2, 4*time.Second)

		require.Len(t, p.Disruptions, 6)
		kinds := map[string]int{}
		slice := window / 6
		for i, d := range p.Disruptions {
			kinds[d.Kind]++
			require.Greater(t, d.At, time.Duration(0))
			require.Less(t, d.At, window)
			require.GreaterOrEqual(t, d.Slot, 0)
			require.Less(t, d.Slot, 3)
			if i > 0 {
				require.GreaterOrEqual(t, d.At-p.Disruptions[i-1].At, slice*4/10, "seed %d: disruptions too close", seed)
			}
		}
		require.Equal(t, map[string]int{"kill": 5, "redis": 1}, kinds)

		require.Len(t, p.Storms, 4)
		storms := append([]storm(nil), p.Storms...)
		sort.Slice(storms, func(i, j int) bool { return storms[i].At < storms[j].At })
		kinds = map[string]int{}
		for i, s := range storms {
			kinds[s.Kind]++
			require.Equal(t, 4*time.Second, s.For)
			require.LessOrEqual(t, s.At+s.For, window)
			if i > 0 {
				require.GreaterOrEqual(t, s.At, storms[i-1].At+storms[i-1].For, "seed %d: storms overlap", seed)
			}
		}
		require.Equal(t, map[string]int{"429": 2, "5xx": 2}, kinds)
	}
}

func TestPlanIsRepeatableFromItsSeed(t *testing.T) {
	t.Parallel()
	a := makePlan(rand.New(rand.NewPCG(9, 9)), 10*time.Second, 2, 1, 3, 1, 2*time.Second)
	b := makePlan(rand.New(rand.NewPCG(9, 9)), 10*time.Second, 2, 1, 3, 1, 2*time.Second)
	require.Equal(t, a, b)
}

func TestPlanWithoutDisruptions(t *testing.T) {
	t.Parallel()
	p := makePlan(rand.New(rand.NewPCG(1, 1)), 10*time.Second, 0, 0, 3, 0, time.Second)
	require.Empty(t, p.Disruptions)
	require.Empty(t, p.Storms)
}

func TestStormFaults(t *testing.T) {
	t.Parallel()
	f := storm{Kind: "429"}.Faults()
	require.Equal(t, 0.5, f.TooManyRate)
	require.Equal(t, "1", f.RetryAfter)
	require.Equal(t, 0.3, storm{Kind: "5xx"}.Faults().ServerErrorRate)
}

func TestParseRepr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{`"12" "\x06"` + "\r\n", []string{"12", "\x06"}, true},
		{`"a\"b" "c\\d" "\n\r\t\a\b"`, []string{`a"b`, `c\d`, "\n\r\t\a\b"}, true},
		{`"" "\xff"`, []string{"", "\xff"}, true},
		{``, nil, true},
		{`"open`, nil, false},
		{`bare`, nil, false},
		{`"\x0"`, nil, false},
		{`"\xzz"`, nil, false},
	} {
		got, ok := parseRepr([]byte(tc.in))
		require.Equal(t, tc.ok, ok, tc.in)
		if tc.ok {
			require.Equal(t, tc.want, got, tc.in)
		}
	}
}

func TestWatchPicksOutUnknownMarksOfTheCampaign(t *testing.T) {
	t.Parallel()
	key := "smsq:c:{c-1}:s"
	long := `+1.2 [0 127.0.0.1:1] "evalsha" "` + strings.Repeat("9", 200) + `"` + "\r\n"
	stream := strings.Join([]string{
		"+1.0 [0 lua] \"SETRANGE\" \"" + key + "\" \"7\" \"\\x06\"\r\n",    // marked unknown
		"+1.1 [0 lua] \"SETRANGE\" \"" + key + "\" \"8\" \"\\x01\"\r\n",    // marked sending
		"+1.1 [0 lua] \"SETRANGE\" \"smsq:c:{c-2}:s\" \"9\" \"\\x06\"\r\n", // another campaign
		long,
		"+1.3 [0 lua] \"SETRANGE\" \"" + key + "\" \"7\" \"\\x06\"\r\n", // marked again
		"+1.4 [0 lua] \"SETRANGE\" \"" + key + "\" \"12\" \"\\x06\"\r\n",
		"+1.5 [0 lua] \"SETRANGE\" \"" + key + "\" \"20\" \"\\x06\\x06\\x06\"\r\n", // a run of three
		"+1.6 [0 lua] \"SETRANGE\" \"" + key + "\" \"30\" \"\\x06\\x02\\x06\"\r\n", // a mixed run
	}, "")
	u := newUnknownWatch("unused", key)
	u.read(bufio.NewReaderSize(strings.NewReader(stream), 64))
	marks, _, lines := u.snapshot()
	require.Equal(t, map[int]int{7: 2, 12: 1, 20: 1, 21: 1, 22: 1, 30: 1, 32: 1}, marks)
	require.EqualValues(t, 7, lines, "the over-long line is skipped, not counted")
}

// TestWatchSeesScriptWritesOnRealRedis checks the MONITOR format the watch
// relies on against a real server: a Lua script's SETRANGE shows, with the
// byte escaped.
func TestWatchSeesScriptWritesOnRealRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	key := "smsq:c:{watch-test}:s"
	u := newUnknownWatch(srv.Addr, key)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	var done sync.WaitGroup
	done.Add(1)
	go func() { defer done.Done(); u.run(ctx, ready) }()
	t.Cleanup(func() { cancel(); done.Wait() })
	<-ready

	rdb := srv.Client()
	script := `redis.call('SETRANGE', KEYS[1], ARGV[1], ARGV[2]) return 1`
	require.NoError(t, rdb.Eval(ctx, script, []string{key}, 5, "\x06").Err())
	require.NoError(t, rdb.Eval(ctx, script, []string{key}, 6, "\x02").Err())
	require.Eventually(t, func() bool {
		m, _, _ := u.snapshot()
		return m[5] == 1
	}, 10*time.Second, 10*time.Millisecond)
	m, _, _ := u.snapshot()
	require.Equal(t, map[int]int{5: 1}, m)
}

func TestFrontHoldsOnlySendAnswers(t *testing.T) {
	t.Parallel()
	f := &front{hold: time.Second, batchHold: 2 * time.Second}
	for path, want := range map[string]time.Duration{
		"/keccel/sms/v2/message.asp":             time.Second,
		"/sakari/v1/accounts/a/messages":         time.Second,
		"/conectaline/v1/push/simple":            time.Second,
		"/conectaline/v1/push/multiple":          2 * time.Second,
		"/conectaline/v1/login":                  0,
		"/sakari/oauth2/token":                   0,
		"/keccel/sms/v2/delivery.asp":            0,
		"/sakari/v1/accounts/a/messages/m-1/xyz": 0,
	} {
		r, err := http.NewRequest(http.MethodPost, "http://x"+path, nil)
		require.NoError(t, err)
		require.Equal(t, want, f.holdFor(r), path)
	}
	r, err := http.NewRequest(http.MethodGet, "http://x/sakari/v1/accounts/a/messages", nil)
	require.NoError(t, err)
	require.Zero(t, f.holdFor(r), "a GET is a status read")
}

func TestOptionsValidateNamesTheField(t *testing.T) {
	t.Parallel()
	for field, o := range map[string]Options{
		"recipients":     {Recipients: -1},
		"workers":        {Workers: 17},
		"kills":          {Kills: 101},
		"redis_restarts": {RedisRestarts: 11},
		"hold":           {Hold: -time.Second},
		"redis_down":     {RedisDown: -time.Second},
		"timeout":        {Timeout: -time.Second},
	} {
		err := o.Validate()
		require.Error(t, err, field)
		require.Contains(t, err.Error(), "chaos: "+field+":", field)
	}
	require.NoError(t, Options{}.Validate())
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	full := Options{RunOptions: harness.RunOptions{Out: os.Stdout}}.withDefaults()
	require.Equal(t, 50_000, full.Recipients)
	require.Equal(t, 2_000, full.Singles)
	require.Equal(t, 5, full.Kills)
	require.Equal(t, 1, full.RedisRestarts)
	require.Equal(t, 50*time.Second, full.Window, "the campaign's length at its rate")
	require.NotZero(t, full.Seed)

	quick := Options{RunOptions: harness.RunOptions{Quick: true}, Kills: -1, Seed: 3}.withDefaults()
	require.Equal(t, 3_000, quick.Recipients)
	require.Equal(t, 200, quick.Singles)
	require.Zero(t, quick.Kills, "negative means none")
	require.Equal(t, uint64(3), quick.Seed)
	require.Equal(t, 10*time.Second, quick.Window)
}

func TestStateAtReadsAHistoryAtAnInstant(t *testing.T) {
	t.Parallel()
	t0 := time.UnixMilli(1_000_000)
	h := []ledger.Transition{
		{State: ledger.Queued, At: t0},
		{State: ledger.Sending, At: t0.Add(time.Second)},
		{State: ledger.Unknown, At: t0.Add(70 * time.Second)},
		{State: ledger.Submitted, At: t0.Add(71 * time.Second)},
	}
	require.Equal(t, ledger.State(""), stateAt(h, t0.Add(-time.Millisecond)))
	require.Equal(t, ledger.Queued, stateAt(h, t0))
	require.Equal(t, ledger.Sending, stateAt(h, t0.Add(5*time.Second)), "killed mid-call")
	require.Equal(t, ledger.Submitted, stateAt(h, t0.Add(2*time.Minute)))
}
