package campaign

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/delivery"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/pacing"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/keccel"
	"github.com/smsq/smsq/providers/sakari"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	sbsakari "github.com/smsq/smsq/sandbox/sakari"
	"github.com/smsq/smsq/tasks"
	"github.com/smsq/smsq/throttle"
)

const cbSecret = "campaign-callback-secret-42"

// meter records what the handler and the delivery machinery report.
type meter struct {
	mu      sync.Mutex
	calls   int
	sent    map[string]int // provider → messages accepted
	failed  map[string]int // provider → messages refused
	reports map[string]int // "provider source state" → reports
}

func newMeter() *meter {
	return &meter{sent: map[string]int{}, failed: map[string]int{}, reports: map[string]int{}}
}

func (m *meter) ProviderCall(provider string, messages int, _ time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if err == nil {
		m.sent[provider] += messages
	} else {
		m.failed[provider] += messages
	}
}

func (m *meter) DeliveryReport(provider, source, state string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reports[provider+" "+source+" "+state]++
}

func (m *meter) report(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reports[key]
}

// rbundle is a bundle with the Keccel and Sakari fakes behind real
// adapters, the delivery service with its callback receiver on an HTTP
// server, a campaign handler and a poller wired as a worker wires them.
type rbundle struct {
	*bundle
	keccel    *sbkeccel.Server
	sakari    *sbsakari.Server
	sclient   *sakari.Client
	svc       *delivery.Service
	poller    *Poller
	h         *Handler
	met       *meter
	root      string // the callback server's root URL
	kroot     string // the Keccel fake's root URL
	callbacks atomic.Int32
}

func (b *rbundle) keccelURL() string { return b.kroot + sbkeccel.BasePath }

type reportOptions struct {
	keccel sbkeccel.Options
	sakari sbsakari.Options
	// push points the Keccel fake at the callback receiver.
	push bool
	// webhook subscribes the callback receiver to Sakari's status events.
	webhook bool
	// rate limits both providers (throttle rate syntax); "" unlimited.
	rate string
	// pollParallel is PollerOptions.Parallel.
	pollParallel int
}

func setupReports(t *testing.T, o reportOptions) *rbundle {
	t.Helper()
	b := &rbundle{bundle: setup(t, setupOptions{}), met: newMeter()}
	ctx := context.Background()
	var err error
	b.svc, err = delivery.New(delivery.Options{Ledger: ledger.New(b.rdb, ledger.Options{Now: b.clock.Now}), Redis: b.rdb,
		Queue: b.aq, Tasks: b.insp, Campaigns: b.store, Metrics: b.met, Now: b.clock.Now})
	require.NoError(t, err)
	cb := b.svc.Callbacks(delivery.CallbackOptions{Secret: cbSecret})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb.ServeHTTP(w, r)
		b.callbacks.Add(1)
	}))
	t.Cleanup(srv.Close)
	b.root = srv.URL

	o.keccel.Now = b.clock.Now
	if o.push {
		o.keccel.CallbackURL = b.callbackURL("keccel")
	}
	b.keccel = sbkeccel.New(o.keccel)
	o.sakari.Now = b.clock.Now
	b.sakari = sbsakari.New(o.sakari)
	ks, ss := httptest.NewServer(b.keccel), httptest.NewServer(b.sakari)
	t.Cleanup(func() { ks.Close(); ss.Close(); _ = b.keccel.Close(); b.sakari.Close() })
	b.kroot = ks.URL
	kclient, err := keccel.New(keccel.Options{BaseURL: ks.URL + sbkeccel.BasePath, Token: sbkeccel.DefaultToken,
		From: sbkeccel.DefaultFrom}, providers.Deps{Now: b.clock.Now})
	require.NoError(t, err)
	b.sclient, err = sakari.New(sakari.Options{BaseURL: ss.URL, ClientID: sbsakari.DefaultClientID,
		ClientSecret: sbsakari.DefaultClientSecret, AccountID: sbsakari.DefaultAccountID}, providers.Deps{Now: b.clock.Now})
	require.NoError(t, err)
	if o.webhook {
		_, err := b.sclient.Subscribe(ctx, b.callbackURL(sakari.Name), []string{sakari.EventMessageStatus})
		require.NoError(t, err)
	}

	guard, err := throttle.New(b.rdb, throttle.Config{Prefix: "smsq:rthrottle:",
		Providers: map[string]throttle.ProviderConfig{"keccel": {Rate: o.rate}, "sakari": {Rate: o.rate}},
		Now:       b.clock.Now, Sleep: b.clock.Sleep})
	require.NoError(t, err)
	b.poller, err = NewPoller(PollerOptions{Store: b.store, Queue: b.aq, Guard: guard, Early: b.svc, Metrics: b.met,
		Pollers: map[string]providers.StatusPoller{"keccel": kclient, "sakari": b.sclient}, Parallel: o.pollParallel, Now: b.clock.Now})
	require.NoError(t, err)
	b.h, err = NewHandler(HandlerOptions{Store: b.store, Senders: map[string]providers.Sender{"keccel": kclient, "sakari": b.sclient},
		Guard: guard, Enqueuer: b.aq, Polls: b.poller, Metrics: b.met, Parallel: 8, Now: b.clock.Now, Sleep: b.clock.Sleep})
	require.NoError(t, err)
	return b
}

func (b *rbundle) callbackURL(provider string) string {
	return b.root + delivery.CallbackPath(cbSecret, provider)
}

// send creates an unpaced campaign of n recipients in blocks of block
// and drives it until every block is sent.
func (b *rbundle) send(id, provider string, n, block int) *Campaign {
	b.t.Helper()
	b.create(Definition{ID: id, Provider: provider, Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC"}},
		csvOf(n), CreateOptions{BlockSize: block})
	b.drive(b.h, []*Scheduler{b.scheduler()}, b.stateIs(id, Done))
	c := b.get(id)
	// Some may have their delivery report already.
	require.Equal(b.t, int64(n), c.Counts["submitted"]+c.Counts["delivered"]+c.Counts["failed"])
	return c
}

// settle runs the poll rounds, moving the fake clock to each next poll,
// until none is left.
func (b *rbundle) settle() {
	b.t.Helper()
	for step := 0; step < 10000; step++ {
		if b.runDueIn(tasks.QueueDelivery, b.poller) > 0 {
			continue
		}
		q := b.queuedIn(tasks.QueueDelivery)
		if len(q) == 0 {
			return
		}
		b.clock.Set(q[0].NextProcessAt)
	}
	b.t.Fatal("poll rounds not over after 10000 steps")
}

// keccelPolls counts delivery.asp requests to the Keccel fake.
func (b *rbundle) keccelPolls() int {
	n := 0
	for _, r := range b.keccel.Recorder().Requests() {
		if strings.HasSuffix(r.Path, "/delivery.asp") {
			n++
		}
	}
	return n
}

// sakariFetches counts message fetches (status polls) to the Sakari fake.
func (b *rbundle) sakariFetches() int {
	n := 0
	for _, r := range b.sakari.Recorder().Requests() {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/messages/") {
			n++
		}
	}
	return n
}

// requireForgotten checks that nothing of the campaign's delivery
// bookkeeping is left in Redis: provider ids, poll rounds, global index.
func (b *rbundle) requireForgotten(id string) {
	b.t.Helper()
	ctx := context.Background()
	for _, pattern := range []string{"smsq:c:{" + id + "}:d:*", "smsq:c:{" + id + "}:dl", "smsq:dlx:*"} {
		require.Empty(b.t, b.rdb.Keys(ctx, pattern).Val(), pattern)
	}
}

// waitCallbacks waits for n callbacks from the fakes, which push from
// their own goroutines in real time.
func (b *rbundle) waitCallbacks(n int) {
	b.t.Helper()
	require.Eventually(b.t, func() bool { return int(b.callbacks.Load()) >= n }, 30*time.Second, 5*time.Millisecond,
		"%d callbacks of %d", b.callbacks.Load(), n)
}

func TestKeccelCampaignDeliveredByPush(t *testing.T) {
	t.Parallel()
	b := setupReports(t, reportOptions{push: true, keccel: sbkeccel.Options{FailNumbers: []string{number(3), number(7)}}})
	b.send("kpush", "keccel", 30, 10)
	b.waitCallbacks(30)
	// Pushes that came before their ids were recorded were kept; the
	// first poll run of each block applies them without asking Keccel.
	b.settle()

	c := b.get("kpush")
	require.Equal(t, int64(28), c.Counts["delivered"])
	require.Equal(t, int64(2), c.Counts["failed"])
	require.Equal(t, int64(0), c.Counts["submitted"])
	require.InDelta(t, 28.0/30, c.DeliveryRate(), 1e-9)
	for _, i := range []int{3, 7} {
		st, err := b.store.State(context.Background(), "kpush", i)
		require.NoError(t, err)
		require.Equal(t, Failed, st)
	}
	require.Zero(t, b.keccelPolls(), "every recipient was settled by push")
	require.Equal(t, 28, b.met.report("keccel callback delivered"))
	require.Equal(t, 2, b.met.report("keccel callback failed"))
	require.Equal(t, 30, b.met.sent["keccel"], "campaign sends are counted like single sends")
	require.Equal(t, 30, b.met.calls, "one call per recipient: Keccel sends one at a time")
	require.Empty(t, b.rdb.Keys(context.Background(), "smsq:dl:kept:*").Val(), "no report left kept")
	b.requireForgotten("kpush")
}

func TestKeccelCampaignDeliveredByPull(t *testing.T) {
	t.Parallel()
	// Delivery takes a minute: the first poll (30s) finds it pending, the
	// second (2m later) final.
	b := setupReports(t, reportOptions{keccel: sbkeccel.Options{DeliverAfter: time.Minute, FailNumbers: []string{number(5)}}})
	c := b.send("kpull", "keccel", 25, 10)
	require.Equal(t, 3, c.Blocks)
	polls := b.queuedIn(tasks.QueueDelivery)
	require.Len(t, polls, 3, "one poll task per block, not per recipient")
	for _, ti := range polls {
		require.Equal(t, TypePoll, ti.Type)
	}
	b.settle()

	c = b.get("kpull")
	require.Equal(t, int64(24), c.Counts["delivered"])
	require.Equal(t, int64(1), c.Counts["failed"])
	require.Equal(t, int64(0), c.Counts["submitted"])
	require.Equal(t, 50, b.keccelPolls(), "two polls per recipient: pending, then final")
	require.Equal(t, 24, b.met.report("keccel poll delivered"))
	require.Equal(t, 1, b.met.report("keccel poll failed"))
	o, err := c.Outlook(b.clock.Now())
	require.NoError(t, err)
	require.Equal(t, Outlook{Remaining: 0, NextBlock: -1, ETA: c.Finished, AwaitingReport: 0, Delivered: 24, Failed: 1,
		DeliveryRate: 24.0 / 25}, o)
	b.requireForgotten("kpull")
}

func TestSakariCampaignDeliveredByWebhook(t *testing.T) {
	t.Parallel()
	b := setupReports(t, reportOptions{webhook: true, sakari: sbsakari.Options{DeliverAfter: -1,
		FailNumbers: []string{number(2)}}})
	b.send("swh", "sakari", 12, 12)
	b.waitCallbacks(12)
	b.settle()

	c := b.get("swh")
	require.Equal(t, int64(11), c.Counts["delivered"])
	require.Equal(t, int64(1), c.Counts["failed"])
	require.Zero(t, b.sakariFetches(), "every recipient was settled by webhook")
	require.Equal(t, 11, b.met.report("sakari callback delivered"))
	require.Equal(t, 12, b.met.sent["sakari"])
	require.Equal(t, 1, b.met.calls, "one batch call for the block")
	b.requireForgotten("swh")
}

func TestSakariCampaignDeliveredByFetch(t *testing.T) {
	t.Parallel()
	b := setupReports(t, reportOptions{sakari: sbsakari.Options{DeliverAfter: 10 * time.Second}})
	b.send("sfetch", "sakari", 5, 5)
	b.settle()
	c := b.get("sfetch")
	require.Equal(t, int64(5), c.Counts["delivered"])
	require.Equal(t, 5, b.sakariFetches(), "one fetch each, 30s after the block")
	b.requireForgotten("sfetch")
}

func TestEarlyPushIsAppliedByTheFirstPoll(t *testing.T) {
	t.Parallel()
	b := setupReports(t, reportOptions{})
	ctx := context.Background()
	// Keccel numbers its messages from FirstMessageID: the first
	// recipient's report can be sent before the campaign is.
	first := "1000001"
	out, err := b.svc.Report(ctx, "keccel", providers.DeliveryReport{ProviderID: first, State: providers.DeliveryDelivered,
		Raw: "DELIVERED"}, ledger.SourceCallback)
	require.NoError(t, err)
	require.Equal(t, delivery.Kept, out)

	b.send("early", "keccel", 2, 2)
	id, idx, ok, err := b.store.LookupProviderID(ctx, "keccel", first)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "early", id)
	b.settle()
	st, err := b.store.State(ctx, "early", idx)
	require.NoError(t, err)
	require.Equal(t, Delivered, st)
	c := b.get("early")
	require.Equal(t, int64(2), c.Counts["delivered"])
	require.Equal(t, 1, b.keccelPolls(), "the early report saved the first recipient's poll")
	require.Empty(t, b.rdb.Keys(ctx, "smsq:dl:kept:*").Val())
}

func TestRepeatedReportsChangeNothing(t *testing.T) {
	t.Parallel()
	b := setupReports(t, reportOptions{})
	ctx := context.Background()
	b.send("rep", "keccel", 3, 3)
	pids := map[int]string{}
	for _, a := range b.keccel.Recorder().Accepted() {
		_, idx, ok, err := b.store.LookupProviderID(ctx, "keccel", a.ID)
		require.NoError(t, err)
		require.True(t, ok)
		pids[idx] = a.ID
	}
	get := func(i int, status string) int {
		resp, err := http.Get(b.callbackURL("keccel") + "?messageID=" + pids[i] + "&status=" + status)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for range 3 {
		require.Equal(t, http.StatusOK, get(0, "DELIVERED"))
	}
	require.Equal(t, http.StatusOK, get(0, "FAILED"), "a contradicting report is acknowledged")
	require.Equal(t, http.StatusOK, get(1, "FAILED"))
	require.Equal(t, http.StatusOK, get(1, "DELIVERED"))

	c := b.get("rep")
	require.Equal(t, int64(1), c.Counts["delivered"])
	require.Equal(t, int64(1), c.Counts["failed"])
	require.Equal(t, int64(1), c.Counts["submitted"])
	for i, want := range []RecipientState{Delivered, Failed, Submitted} {
		st, err := b.store.State(ctx, "rep", i)
		require.NoError(t, err)
		require.Equal(t, want, st, "recipient %d: the first final word stands", i)
	}
	require.InDelta(t, 1.0/3, c.DeliveryRate(), 1e-9)

	// The store's own answer: a repeat is still the campaign's recipient.
	ok, err := b.store.Settle(ctx, "keccel", providers.DeliveryReport{ProviderID: pids[0], State: providers.DeliveryDelivered}, ledger.SourcePoll)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, c.Counts, b.get("rep").Counts)
	// The same id from another provider is not this campaign's.
	ok, err = b.store.Settle(ctx, "sakari", providers.DeliveryReport{ProviderID: pids[0], State: providers.DeliveryDelivered}, ledger.SourcePoll)
	require.NoError(t, err)
	require.False(t, ok)
}

func TestUnknownProviderIDIsKept(t *testing.T) {
	t.Parallel()
	b := setupReports(t, reportOptions{})
	ctx := context.Background()
	b.send("known", "keccel", 2, 2)
	resp, err := http.Get(b.callbackURL("keccel") + "?messageID=7777777&status=DELIVERED")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, int64(1), b.rdb.Exists(ctx, "smsq:dl:kept:keccel:7777777").Val(), "kept for a message not recorded yet")
	require.Equal(t, int64(2), b.get("known").Counts["submitted"], "no recipient touched")
}

func TestUndeliveredRecipientsExpire(t *testing.T) {
	t.Parallel()
	b := setupReports(t, reportOptions{keccel: sbkeccel.Options{DeliverAfter: 1000 * time.Hour}})
	b.send("slow", "keccel", 4, 4)
	start := b.clock.Now()
	b.settle()

	c := b.get("slow")
	require.Equal(t, int64(4), c.Counts["expired"])
	require.Equal(t, int64(0), c.Counts["submitted"])
	require.Zero(t, c.DeliveryRate())
	require.Equal(t, 4, b.met.report("keccel poll expired"))
	// The default schedule: 30s, 2m, 10m, 1h, then every 4h; the last
	// poll is at the 72h deadline, and none is later.
	require.False(t, b.clock.Now().After(start.Add(delivery.DefaultExpiry+time.Second)))
	runs := 4 + int((delivery.DefaultExpiry-(30*time.Second+2*time.Minute+10*time.Minute+time.Hour))/(4*time.Hour)) + 1
	require.Equal(t, 4*runs, b.keccelPolls())
	b.requireForgotten("slow")

	// A report after the deadline changes nothing.
	resp, err := http.Get(b.callbackURL("keccel") + "?messageID=1000001&status=DELIVERED")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, int64(4), b.get("slow").Counts["expired"])
}

func TestPollsWaitForTheRateLimitAndGoOnWhereTheyStopped(t *testing.T) {
	t.Parallel()
	b := setupReports(t, reportOptions{rate: "1/m", pollParallel: 1})
	b.send("slowrate", "keccel", 6, 6)
	b.settle()
	c := b.get("slowrate")
	require.Equal(t, int64(6), c.Counts["delivered"])
	require.Equal(t, 6, b.keccelPolls(), "no recipient polled twice")
	// The first run polled what the limiter let through at once and left
	// the rest to a run that starts where it stopped.
	var froms []string
	for _, r := range b.runs {
		if strings.HasPrefix(r.TaskID, "cpoll:") {
			froms = append(froms, r.TaskID[strings.LastIndex(r.TaskID, ":")+1:])
		}
	}
	// The first run, 30s after the last send, waits for the slot after
	// it (sends and polls share the rate): a snooze of the run itself.
	require.Equal(t, []string{"0", "0", "1", "2", "3", "4", "5"}, froms)
}

func TestActiveListsRunningAndPausedCampaigns(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	ctx := context.Background()
	paced := pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC", SMSPerBlock: 5, MinutesPerBlock: 10}
	for _, id := range []string{"a-run", "b-pause", "c-sched", "d-cancel", "e-done"} {
		n := 10
		if id == "a-run" {
			n = 30 // still running when e-done is done
		}
		b.create(Definition{ID: id, Pacing: paced}, csvOf(n), CreateOptions{})
		b.clock.Advance(time.Millisecond) // creation order is listing order
	}
	s := b.scheduler()
	_, err := b.store.Pause(ctx, "c-sched")
	require.NoError(t, err)
	_, err = b.store.Resume(ctx, "c-sched") // never started: back to scheduled
	require.NoError(t, err)
	_, err = b.store.Cancel(ctx, "c-sched")
	require.NoError(t, err)
	b.clock.Set(time.Date(2031, 3, 3, 9, 0, 0, 0, time.UTC))
	h := b.handler(nil)
	b.drive(h, []*Scheduler{s}, func() bool { return b.get("e-done").BlocksDone == 1 })
	_, err = b.store.Pause(ctx, "b-pause")
	require.NoError(t, err)
	_, err = b.store.Cancel(ctx, "d-cancel")
	require.NoError(t, err)
	b.drive(h, []*Scheduler{s}, b.stateIs("e-done", Done))

	list, err := b.store.Active(ctx, 10)
	require.NoError(t, err)
	var ids []string
	for _, c := range list {
		ids = append(ids, c.CampaignID())
		require.Contains(t, []State{Running, Paused}, c.State)
	}
	require.Equal(t, []string{"a-run", "b-pause"}, ids, "oldest first; scheduled, cancelled and done left out")

	one, err := b.store.Active(ctx, 1)
	require.NoError(t, err)
	require.Len(t, one, 1)
	counts := one[0].RecipientCounts()
	require.Len(t, counts, len(RecipientStates()))
}

func TestPollRoundOfAGoneCampaignIsDropped(t *testing.T) {
	t.Parallel()
	b := setupReports(t, reportOptions{})
	err := b.poller.HandlePoll(context.Background(), mustPollTask(t, PollPayload{Campaign: "nope", Block: 0, Round: 1}))
	require.NoError(t, err)
	err = b.poller.HandlePoll(context.Background(), asynq.NewTask(TypePoll, []byte("{")))
	require.ErrorIs(t, err, asynq.SkipRetry)
}

func mustPollTask(t *testing.T, p PollPayload) *asynq.Task {
	t.Helper()
	task, err := NewPollTask(p, time.Now())
	require.NoError(t, err)
	return asynq.NewTask(task.Type(), task.Payload())
}

func TestIDsAreDroppedEvenWhenPushesSettledEveryoneFirst(t *testing.T) {
	t.Parallel()
	b := setupReports(t, reportOptions{})
	ctx := context.Background()
	b.create(Definition{ID: "fast", Provider: "keccel", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC"}},
		csvOf(3), CreateOptions{})
	c := b.get("fast")
	// A run submitted three recipients and recorded their ids, then
	// stopped before starting the block's round; pushes settled all three.
	_, err := b.store.mark(ctx, c.ID, Submitted, []RecipientState{Pending}, []int{0, 1, 2})
	require.NoError(t, err)
	require.NoError(t, b.store.recordProviderIDs(ctx, c, map[string]int{"k0": 0, "k1": 1, "k2": 2}))
	for _, pid := range []string{"k0", "k1", "k2"} {
		ok, err := b.store.Settle(ctx, "keccel", providers.DeliveryReport{ProviderID: pid, State: providers.DeliveryDelivered}, ledger.SourceCallback)
		require.NoError(t, err)
		require.True(t, ok)
	}
	// The block's rerun records nothing new; the ids still need dropping.
	require.NoError(t, b.poller.Start(ctx, c, 0, false))
	b.settle()
	require.Equal(t, int64(3), b.get("fast").Counts["delivered"])
	require.Zero(t, b.keccelPolls())
	b.requireForgotten("fast")
}

// cancelling cancels its campaign after the first message it sends.
type cancelling struct {
	*keccel.Client
	store *Store
	id    string
	once  sync.Once
}

func (s *cancelling) Send(ctx context.Context, m providers.Message) (providers.Result, error) {
	res, err := s.Client.Send(ctx, m)
	s.once.Do(func() { _, _ = s.store.Cancel(ctx, s.id) })
	return res, err
}

func TestRecipientsSubmittedBeforeACancelAreStillFollowed(t *testing.T) {
	t.Parallel()
	b := setupReports(t, reportOptions{})
	kclient, err := keccel.New(keccel.Options{BaseURL: b.keccelURL(), Token: sbkeccel.DefaultToken, From: sbkeccel.DefaultFrom},
		providers.Deps{Now: b.clock.Now})
	require.NoError(t, err)
	guard, err := throttle.New(b.rdb, throttle.Config{Prefix: "smsq:cthrottle:", Providers: map[string]throttle.ProviderConfig{"keccel": {}},
		Now: b.clock.Now, Sleep: b.clock.Sleep})
	require.NoError(t, err)
	h, err := NewHandler(HandlerOptions{Store: b.store, Senders: map[string]providers.Sender{"keccel": &cancelling{Client: kclient, store: b.store, id: "stop"}},
		Guard: guard, Enqueuer: b.aq, Polls: b.poller, Parallel: 4, Now: b.clock.Now, Sleep: b.clock.Sleep})
	require.NoError(t, err)
	b.create(Definition{ID: "stop", Provider: "keccel", Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC"}},
		csvOf(20), CreateOptions{BlockSize: 20})
	b.drive(h, []*Scheduler{b.scheduler()}, b.stateIs("stop", Cancelled))
	c := b.get("stop")
	require.Equal(t, int64(4), c.Counts["submitted"], "the first batch went out before the cancel took effect")

	b.settle()
	c = b.get("stop")
	require.Equal(t, int64(4), c.Counts["delivered"])
	require.Equal(t, int64(16), c.Counts["pending"])
	b.requireForgotten("stop")
}
