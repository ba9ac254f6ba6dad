package delivery_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/delivery"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
)

const secret = "cb-secret-0123456789abcdef"

// sakariEvent is a message-status webhook body as Sakari posts it.
func sakariEvent(id, status string) string {
	return `{"accountId":"acc","eventId":"ev1","type":"messageStatus","data":{"id":"` + id + `","status":"` + status + `","message":"hi"}}`
}

func TestCallbacks(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	big := `{"type":"messageStatus","data":{"id":"s1","status":"delivered","message":"` + strings.Repeat("x", delivery.DefaultMaxBody) + `"}}`
	for _, tc := range []struct {
		name   string
		secret string // configured
		method string
		path   string // after the worker root; "{s}" is the configured secret
		body   string
		code   int
		// state of the keccel message k (pid 1000001) and the sakari
		// message s (pid s1) afterwards.
		keccel, sakari ledger.State
	}{
		{"keccel delivered", secret, "GET", "/callbacks/{s}/keccel?messageID=1000001&status=DELIVERED", "", 200, ledger.Delivered, ledger.Submitted},
		{"keccel failed, lower-case id key", secret, "GET", "/callbacks/{s}/keccel?messageid=1000001&status=failed", "", 200, ledger.Failed, ledger.Submitted},
		{"keccel id not recorded yet", secret, "GET", "/callbacks/{s}/keccel?messageID=999&status=DELIVERED", "", 202, ledger.Submitted, ledger.Submitted},
		{"keccel unknown status word", secret, "GET", "/callbacks/{s}/keccel?messageID=1000001&status=QUEUED", "", 400, ledger.Submitted, ledger.Submitted},
		{"keccel missing id", secret, "GET", "/callbacks/{s}/keccel?status=DELIVERED", "", 400, ledger.Submitted, ledger.Submitted},
		{"keccel wrong method", secret, "POST", "/callbacks/{s}/keccel?messageID=1000001&status=DELIVERED", "", 405, ledger.Submitted, ledger.Submitted},
		{"sakari delivered", secret, "POST", "/callbacks/{s}/sakari", sakariEvent("s1", "delivered"), 200, ledger.Submitted, ledger.Delivered},
		{"sakari undelivered", secret, "POST", "/callbacks/{s}/sakari", sakariEvent("s1", "undelivered"), 200, ledger.Submitted, ledger.Failed},
		{"sakari not final yet", secret, "POST", "/callbacks/{s}/sakari", sakariEvent("s1", "sent"), 200, ledger.Submitted, ledger.Submitted},
		{"sakari other event", secret, "POST", "/callbacks/{s}/sakari", `{"type":"contact-created","data":{"id":"c1"}}`, 200, ledger.Submitted, ledger.Submitted},
		{"sakari not JSON", secret, "POST", "/callbacks/{s}/sakari", `{"type":`, 400, ledger.Submitted, ledger.Submitted},
		{"sakari body too large", secret, "POST", "/callbacks/{s}/sakari", big, 413, ledger.Submitted, ledger.Submitted},
		{"sakari wrong method", secret, "GET", "/callbacks/{s}/sakari", "", 405, ledger.Submitted, ledger.Submitted},
		{"unknown provider", secret, "GET", "/callbacks/{s}/twilio", "", 404, ledger.Submitted, ledger.Submitted},
		{"wrong secret", secret, "GET", "/callbacks/not-the-secret-at-all/keccel?messageID=1000001&status=DELIVERED", "", 401, ledger.Submitted, ledger.Submitted},
		{"secret with one more char", secret, "GET", "/callbacks/{s}x/keccel?messageID=1000001&status=DELIVERED", "", 401, ledger.Submitted, ledger.Submitted},
		{"secret prefix only", secret, "GET", "/callbacks/" + secret[:10] + "/keccel?messageID=1000001&status=DELIVERED", "", 401, ledger.Submitted, ledger.Submitted},
		{"no secret segment", secret, "GET", "/callbacks/keccel?messageID=1000001&status=DELIVERED", "", 401, ledger.Submitted, ledger.Submitted},
		{"empty secret segment", secret, "GET", "/callbacks//keccel?messageID=1000001&status=DELIVERED", "", 401, ledger.Submitted, ledger.Submitted},
		{"forged sakari event", secret, "POST", "/callbacks/guess/sakari", sakariEvent("s1", "delivered"), 401, ledger.Submitted, ledger.Submitted},
		{"no secret configured refuses all", "", "GET", "/callbacks//keccel?messageID=1000001&status=DELIVERED", "", 401, ledger.Submitted, ledger.Submitted},
		{"no secret configured refuses any guess", "", "POST", "/callbacks/anything/sakari", sakariEvent("s1", "delivered"), 401, ledger.Submitted, ledger.Submitted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			f := newFixture(t, srv, func(o *delivery.Options) { o.Log = zerolog.New(&logs) })
			ctx := context.Background()
			// Provider ids are per-fixture: the index lives under its prefix.
			k := f.submitted(t, f.prefix+"k", "keccel", "1000001")
			s := f.submitted(t, f.prefix+"s", "sakari", "s1")
			require.NoError(t, f.svc.AfterSubmit(ctx, k))
			require.NoError(t, f.svc.AfterSubmit(ctx, s))
			h := f.svc.Callbacks(delivery.CallbackOptions{Secret: tc.secret})

			req := httptest.NewRequest(tc.method, strings.ReplaceAll(tc.path, "{s}", tc.secret), strings.NewReader(tc.body))
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			require.Equal(t, tc.code, rr.Code, rr.Body.String())
			require.Equal(t, "application/json", rr.Header().Get("Content-Type"))

			require.Equal(t, tc.keccel, f.state(t, k.ID).State, "keccel message")
			require.Equal(t, tc.sakari, f.state(t, s.ID).State, "sakari message")
			if tc.code == http.StatusUnauthorized {
				require.NotContains(t, logs.String(), tc.path, "the guessed path is not logged")
			}
			if tc.secret != "" {
				require.NotContains(t, logs.String(), tc.secret, "the secret is never logged")
			}
		})
	}
}

func TestRepeatedCallbackIsIdempotent(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := newFixture(t, srv, nil)
	ctx := context.Background()
	rec := f.submitted(t, "m1", "keccel", "1000001")
	require.NoError(t, f.svc.AfterSubmit(ctx, rec))
	hs := httptest.NewServer(f.svc.Callbacks(delivery.CallbackOptions{Secret: secret}))
	t.Cleanup(hs.Close)

	events := func() int64 { return f.rdb.XLen(ctx, ledger.EventsKey(f.prefix)).Val() }
	before := events()
	for i := 0; i < 3; i++ {
		resp, err := http.Get(hs.URL + delivery.CallbackPath(secret, "keccel") + "?messageID=1000001&status=DELIVERED")
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "attempt %d", i)
	}
	got := f.state(t, "m1")
	require.Equal(t, ledger.Delivered, got.State)
	require.Equal(t, 1, count(got, ledger.Delivered), "one transition for three reports")
	require.Equal(t, before+1, events(), "one status event for three reports")
	require.Nil(t, f.pollTask(t, "poll:m1:0"))
}

func TestEarlyCallbackIsKeptThenReconciled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, redistest.Start(t), nil)
	ctx := context.Background()
	hs := httptest.NewServer(f.svc.Callbacks(delivery.CallbackOptions{Secret: secret}))
	t.Cleanup(hs.Close)

	body := sakariEvent("5f8d0c2b9e1a4c7d3b6e2f11", "delivered")
	resp, err := http.Post(hs.URL+delivery.CallbackPath(secret, "sakari"), "application/json", strings.NewReader(body))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "kept for later")

	rec := f.submitted(t, "m1", "sakari", "5f8d0c2b9e1a4c7d3b6e2f11")
	require.NoError(t, f.svc.AfterSubmit(ctx, rec))
	got := f.state(t, "m1")
	require.Equal(t, ledger.Delivered, got.State)
	require.Equal(t, ledger.SourceCallback, lastTransition(got).Source)

	// Sakari sends it again: already applied.
	resp, err = http.Post(hs.URL+delivery.CallbackPath(secret, "sakari"), "application/json", strings.NewReader(body))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 1, count(f.state(t, "m1"), ledger.Delivered))
}

func TestCallbackAsksForARetryWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	// A Redis nobody listens on: nothing can be looked up or kept.
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	svc, err := delivery.New(delivery.Options{Ledger: ledger.New(down, ledger.Options{}), Redis: down,
		Queue: asynq.NewClientFromRedisClient(down), Tasks: asynq.NewInspectorFromRedisClient(down)})
	require.NoError(t, err)
	rr := httptest.NewRecorder()
	svc.Callbacks(delivery.CallbackOptions{Secret: secret}).ServeHTTP(rr,
		httptest.NewRequest("GET", delivery.CallbackPath(secret, "keccel")+"?messageID=1&status=DELIVERED", nil))
	require.Equal(t, http.StatusInternalServerError, rr.Code, "the provider should send it again")
}
