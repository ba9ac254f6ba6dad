package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/callbackurl"
	"github.com/smsq/smsq/events"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/tasks"
)

const secret = "whsec-test-0123456789"

// receiver is a producer's callback endpoint: it answers with the next
// code of a script (200 once the script is used up) and keeps every
// request it got.
type receiver struct {
	mu     sync.Mutex
	script []int
	got    []received
}

type received struct {
	header http.Header
	body   []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, received{header: r.Header.Clone(), body: body})
	code := http.StatusOK
	if len(rc.script) > 0 {
		code, rc.script = rc.script[0], rc.script[1:]
	}
	rc.mu.Unlock()
	w.WriteHeader(code)
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// lockedBuffer collects log lines from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeResolver answers fixed addresses for host names, as a DNS server
// under someone else's control might.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ips, ok := f[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// notifyBundle runs a Notifier in a real asynq server that retries at once.
type notifyBundle struct {
	client *asynq.Client
	insp   *asynq.Inspector
	logs   *lockedBuffer
}

func setupNotifier(t *testing.T, o events.NotifierOptions) *notifyBundle {
	t.Helper()
	srv := redistest.Start(t)
	b := &notifyBundle{client: asynq.NewClient(srv.AsynqOpt()), insp: asynq.NewInspector(srv.AsynqOpt()), logs: &lockedBuffer{}}
	o.Secret = secret
	o.Log = zerolog.New(b.logs)
	n, err := events.NewNotifier(o)
	require.NoError(t, err)
	as := asynq.NewServer(srv.AsynqOpt(), asynq.Config{
		Concurrency: 2, Queues: map[string]int{tasks.QueueEvents: 1},
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 0 },
		DelayedTaskCheckInterval: 50 * time.Millisecond, TaskCheckInterval: 20 * time.Millisecond,
		LogLevel: asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeEvent, n)
	require.NoError(t, as.Start(mux))
	t.Cleanup(func() { as.Shutdown(); _ = b.client.Close(); _ = b.insp.Close() })
	return b
}

func (b *notifyBundle) enqueue(t *testing.T, url string, attempts int) events.Event {
	t.Helper()
	ev := events.Event{EventID: "1780000000000-0", ID: "otp-1", State: ledger.Submitted, Previous: ledger.Sending,
		Source: ledger.SourceWorker, At: time.UnixMilli(1_780_000_000_000).UTC(), Provider: "keccel", ProviderID: "42"}
	task, err := events.NewTask(events.Payload{URL: url, Event: ev}, events.TaskOptions{Attempts: attempts})
	require.NoError(t, err)
	_, err = b.client.Enqueue(task)
	require.NoError(t, err)
	return ev
}

func TestNotifierRetriesUntilTheReceiverAccepts(t *testing.T) {
	t.Parallel()
	rc := &receiver{script: []int{500, 503}}
	hs := httptest.NewServer(rc)
	t.Cleanup(hs.Close)
	b := setupNotifier(t, events.NotifierOptions{AllowPrivate: true}) // the receiver is on 127.0.0.1
	ev := b.enqueue(t, hs.URL+"/hooks/sms", 10)

	require.Eventually(t, func() bool {
		ti, err := b.insp.GetTaskInfo(tasks.QueueEvents, events.TaskID(ev.EventID))
		return err == nil && ti.State == asynq.TaskStateCompleted
	}, 20*time.Second, 20*time.Millisecond)
	got := rc.requests()
	require.Len(t, got, 3, "two failures, then success")
	for _, r := range got {
		require.Equal(t, "application/json", r.header.Get("Content-Type"))
		require.Equal(t, ev.EventID, r.header.Get("X-Smsq-Event-Id"))
		require.NoError(t, events.Verify(secret, r.header.Get(events.SignatureHeader), r.body, time.Minute))
		var back events.Event
		require.NoError(t, json.Unmarshal(r.body, &back))
		require.Equal(t, ev, back)
	}
	require.Contains(t, b.logs.String(), "will retry")
	require.NotContains(t, b.logs.String(), "failed for good")
}

func TestNotifierArchivesAndLogsWhenAttemptsRunOut(t *testing.T) {
	t.Parallel()
	rc := &receiver{script: []int{500, 500, 500, 500}}
	hs := httptest.NewServer(rc)
	t.Cleanup(hs.Close)
	b := setupNotifier(t, events.NotifierOptions{AllowPrivate: true})
	ev := b.enqueue(t, hs.URL+"/hooks/sms?token=receiver-secret", 3)

	require.Eventually(t, func() bool {
		ti, err := b.insp.GetTaskInfo(tasks.QueueEvents, events.TaskID(ev.EventID))
		return err == nil && ti.State == asynq.TaskStateArchived
	}, 20*time.Second, 20*time.Millisecond)
	require.Len(t, rc.requests(), 3)
	require.Eventually(t, func() bool { return strings.Contains(b.logs.String(), "failed for good") }, 5*time.Second, 10*time.Millisecond)
	logs := b.logs.String()
	require.Contains(t, logs, `"message_id":"otp-1"`)
	require.Contains(t, logs, "500")
	require.NotContains(t, logs, "receiver-secret", "the callback URL's query is not logged")
	ti, err := b.insp.GetTaskInfo(tasks.QueueEvents, events.TaskID(ev.EventID))
	require.NoError(t, err)
	require.NotContains(t, ti.LastErr, "receiver-secret")
}

func TestNotifierTimesOutASlowReceiver(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); hs.Close() })
	n, err := events.NewNotifier(events.NotifierOptions{Secret: secret, Timeout: 50 * time.Millisecond, AllowPrivate: true})
	require.NoError(t, err)
	err = n.Deliver(context.Background(), events.Payload{URL: hs.URL + "/x?token=receiver-secret", Event: events.Event{EventID: "1-0", ID: "m"}})
	require.Error(t, err)
	require.Contains(t, err.Error(), "Client.Timeout")
	require.NotContains(t, err.Error(), "receiver-secret")
}

func TestNotifierNeedsASecret(t *testing.T) {
	t.Parallel()
	_, err := events.NewNotifier(events.NotifierOptions{})
	require.ErrorContains(t, err, "api.signing_secret")
}

// receiverOnAName serves rc on 127.0.0.1 and returns a URL that names it
// hooks.example.com, on its port.
func receiverOnAName(t *testing.T, rc *receiver) (rawURL string) {
	t.Helper()
	hs := httptest.NewServer(rc)
	t.Cleanup(hs.Close)
	u, err := url.Parse(hs.URL)
	require.NoError(t, err)
	return "http://hooks.example.com:" + u.Port() + "/hooks/sms?token=receiver-secret"
}

var rebound = fakeResolver{"hooks.example.com": {netip.MustParseAddr("127.0.0.1")}}

func TestNotifierRefusesANameThatResolvesToAPrivateAddress(t *testing.T) {
	t.Parallel()
	rc := &receiver{}
	target := receiverOnAName(t, rc)
	n, err := events.NewNotifier(events.NotifierOptions{Secret: secret, Resolver: rebound})
	require.NoError(t, err)
	err = n.Deliver(context.Background(), events.Payload{URL: target, Event: events.Event{EventID: "1-0", ID: "m"}})
	require.ErrorIs(t, err, callbackurl.ErrNonPublic)
	require.Contains(t, err.Error(), "127.0.0.1")
	require.Contains(t, err.Error(), "api.allow_private_callbacks")
	require.NotContains(t, err.Error(), "receiver-secret")
	require.Empty(t, rc.requests(), "nothing reached the internal address")

	// Every address of the name is judged, and a literal one too.
	n, err = events.NewNotifier(events.NotifierOptions{Secret: secret, Resolver: fakeResolver{
		"hooks.example.com": {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("::1"), netip.MustParseAddr("169.254.169.254")}}})
	require.NoError(t, err)
	err = n.Deliver(context.Background(), events.Payload{URL: "http://hooks.example.com/x", Event: events.Event{EventID: "1-0", ID: "m"}})
	require.ErrorIs(t, err, callbackurl.ErrNonPublic)
	for _, ip := range []string{"10.0.0.1", "::1", "169.254.169.254"} {
		require.Contains(t, err.Error(), ip)
	}
	hs := httptest.NewServer(rc)
	t.Cleanup(hs.Close)
	err = n.Deliver(context.Background(), events.Payload{URL: hs.URL + "/x", Event: events.Event{EventID: "1-0", ID: "m"}})
	require.ErrorIs(t, err, callbackurl.ErrNonPublic)
	require.Empty(t, rc.requests())
}

func TestNotifierReachesPrivateAddressesWhenAllowed(t *testing.T) {
	t.Parallel()
	rc := &receiver{}
	target := receiverOnAName(t, rc)
	n, err := events.NewNotifier(events.NotifierOptions{Secret: secret, Resolver: rebound, AllowPrivate: true})
	require.NoError(t, err)
	require.NoError(t, n.Deliver(context.Background(), events.Payload{URL: target, Event: events.Event{EventID: "1-0", ID: "m"}}))
	require.Len(t, rc.requests(), 1, "the name was resolved by the given resolver")
}

func TestNotifierArchivesARefusedCallbackAtOnce(t *testing.T) {
	t.Parallel()
	rc := &receiver{}
	target := receiverOnAName(t, rc)
	b := setupNotifier(t, events.NotifierOptions{Resolver: rebound})
	ev := b.enqueue(t, target, 10)

	require.Eventually(t, func() bool {
		ti, err := b.insp.GetTaskInfo(tasks.QueueEvents, events.TaskID(ev.EventID))
		return err == nil && ti.State == asynq.TaskStateArchived
	}, 20*time.Second, 20*time.Millisecond)
	ti, err := b.insp.GetTaskInfo(tasks.QueueEvents, events.TaskID(ev.EventID))
	require.NoError(t, err)
	require.Zero(t, ti.Retried, "a refused address is not tried again")
	require.Empty(t, rc.requests())
	require.Eventually(t, func() bool { return strings.Contains(b.logs.String(), "non-public address") }, 5*time.Second, 10*time.Millisecond)
	logs := b.logs.String()
	require.Contains(t, logs, "127.0.0.1")
	require.Contains(t, logs, `"message_id":"otp-1"`)
	require.NotContains(t, logs, "receiver-secret")
}
