// Package providertest is the contract every provider adapter passes against
// its sandbox fake: the same cases, the same expectations, for all five.
package providertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/token"
	"github.com/smsq/smsq/sandbox"
)

// Env is a fake and an adapter pointed at it.
type Env struct {
	Fake   sandbox.Fake
	Sender providers.Sender
}

// Options shape the adapter a Harness builds.
type Options struct {
	// BadCredentials: configure the adapter with credentials the fake refuses.
	BadCredentials bool
	// Timeout is the adapter's HTTP timeout. Zero: the harness's choice.
	Timeout time.Duration
	// Store is the token store the adapter uses. Nil: its own memory store.
	Store token.Store
}

// Harness adapts one provider to the suite.
type Harness struct {
	// New starts the fake (e.g. on httptest.NewServer, closed with t) and
	// returns an adapter pointed at it by base URL only.
	New func(t *testing.T, o Options) Env
	// Message returns a valid message; distinct i give distinct destinations.
	Message func(i int) providers.Message
	// InvalidRecipient returns a message the fake refuses because of its
	// destination. Nil when the protocol cannot say so.
	InvalidRecipient func() providers.Message
	// ReturnsIDs says the provider returns a message id on send.
	ReturnsIDs bool
	// Tokens says the provider issues access tokens that can expire (every
	// provider but Keccel).
	Tokens bool
}

// Run runs the contract.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()

	t.Run("send is accepted", func(t *testing.T) {
		env := h.New(t, Options{})
		m := h.Message(1)
		res, err := env.Sender.Send(ctx, m)
		require.NoError(t, err)
		if h.ReturnsIDs {
			require.NotEmpty(t, res.ProviderID, "provider returns ids, adapter must surface them")
		}
		acc := env.Fake.Recorder().Accepted()
		require.Len(t, acc, 1)
		require.Equal(t, m.Text, acc[0].Text)
		if h.ReturnsIDs {
			require.Equal(t, acc[0].ID, res.ProviderID)
		}
	})

	t.Run("bulk within the cap", func(t *testing.T) {
		env := h.New(t, Options{})
		bs, ok := env.Sender.(providers.BatchSender)
		if !ok {
			t.Logf("%s has no batch endpoint: one call per recipient", env.Sender.Name())
			return
		}
		n := bs.MaxBatch()
		require.Positive(t, n)
		if n > 1000 {
			n = 1000
		}
		ms := make([]providers.Message, n)
		for i := range ms {
			ms[i] = h.Message(i)
		}
		res, err := bs.SendBatch(ctx, ms)
		require.NoError(t, err)
		require.Len(t, res, n)
		for i, r := range res {
			require.NoError(t, r.Err, "message %d", i)
		}
		require.Equal(t, n, env.Fake.Recorder().AcceptedCount())
		require.Len(t, env.Fake.Recorder().PerDestination(), n)
	})

	t.Run("bad credentials are an auth error", func(t *testing.T) {
		env := h.New(t, Options{BadCredentials: true})
		_, err := env.Sender.Send(ctx, h.Message(1))
		require.ErrorIs(t, err, providers.ErrAuth)
		require.Zero(t, env.Fake.Recorder().AcceptedCount())
	})

	if h.InvalidRecipient != nil {
		t.Run("invalid recipient is permanent for the recipient", func(t *testing.T) {
			env := h.New(t, Options{})
			_, err := env.Sender.Send(ctx, h.InvalidRecipient())
			require.ErrorIs(t, err, providers.ErrInvalidRecipient)
			require.True(t, providers.ClassOf(err).Permanent())
		})
	}

	if h.Tokens {
		t.Run("token expiry mid-run refetches once and resends", func(t *testing.T) {
			env := h.New(t, Options{})
			_, err := env.Sender.Send(ctx, h.Message(1))
			require.NoError(t, err)
			require.Equal(t, 1, env.Fake.Recorder().TokensIssued())
			env.Fake.ExpireTokens()
			_, err = env.Sender.Send(ctx, h.Message(2))
			require.NoError(t, err)
			require.Equal(t, 2, env.Fake.Recorder().TokensIssued())
			require.Equal(t, 2, env.Fake.Recorder().AcceptedCount())
		})

		t.Run("twenty concurrent senders share one token request", func(t *testing.T) {
			env := h.New(t, Options{})
			sendConcurrently(t, env.Sender, h, 20, 0)
			require.Equal(t, 1, env.Fake.Recorder().TokensIssued())
			env.Fake.ExpireTokens()
			sendConcurrently(t, env.Sender, h, 20, 100)
			require.Equal(t, 2, env.Fake.Recorder().TokensIssued(), "an expired token is replaced once, not once per sender")
			require.Equal(t, 40, env.Fake.Recorder().AcceptedCount())
		})
	}

	t.Run("429 with Retry-After is rate limited with the wait", func(t *testing.T) {
		env := h.New(t, Options{})
		warm(t, env, h)
		env.Fake.Faults().Set(sandbox.Faults{TooManyRate: 1, RetryAfter: "7"})
		_, err := env.Sender.Send(ctx, h.Message(2))
		require.ErrorIs(t, err, providers.ErrRateLimited)
		require.Equal(t, 7*time.Second, providers.RetryAfterOf(err))
	})

	t.Run("429 with an HTTP-date Retry-After", func(t *testing.T) {
		env := h.New(t, Options{})
		warm(t, env, h)
		at := time.Now().Add(90 * time.Second).UTC().Format(time.RFC1123)
		env.Fake.Faults().Set(sandbox.Faults{TooManyRate: 1, RetryAfter: at[:len(at)-3] + "GMT"})
		_, err := env.Sender.Send(ctx, h.Message(2))
		require.ErrorIs(t, err, providers.ErrRateLimited)
		require.InDelta(t, 90, providers.RetryAfterOf(err).Seconds(), 3)
	})

	t.Run("429 without Retry-After is rate limited with no wait", func(t *testing.T) {
		env := h.New(t, Options{})
		warm(t, env, h)
		env.Fake.Faults().Set(sandbox.Faults{TooManyRate: 1})
		_, err := env.Sender.Send(ctx, h.Message(2))
		require.ErrorIs(t, err, providers.ErrRateLimited)
		require.Zero(t, providers.RetryAfterOf(err))
	})

	for _, tc := range []struct {
		name    string
		faults  sandbox.Faults
		timeout time.Duration
	}{
		{"5xx is retryable", sandbox.Faults{ServerErrorRate: 1}, 0},
		// The client timeout is well above a loaded machine's warm-up send
		// and well below the injected latency.
		{"timeout is retryable", sandbox.Faults{Latency: 5 * time.Second}, 1500 * time.Millisecond},
		{"malformed body is retryable", sandbox.Faults{MalformedRate: 1}, 0},
		{"connection reset is retryable", sandbox.Faults{ResetRate: 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := h.New(t, Options{Timeout: tc.timeout})
			warm(t, env, h)
			env.Fake.Faults().Set(tc.faults)
			_, err := env.Sender.Send(ctx, h.Message(2))
			require.ErrorIs(t, err, providers.ErrRetryable)
			require.False(t, providers.ClassOf(err).Permanent())
			var pe *providers.Error
			require.True(t, errors.As(err, &pe), "adapters return *providers.Error, got %T", err)
			require.Equal(t, env.Sender.Name(), pe.Provider)
		})
	}
}

// warm sends one message so that the token (if any) is fetched before a
// fault is switched on: faults hit API calls, not token endpoints.
func warm(t *testing.T, env Env, h Harness) {
	t.Helper()
	_, err := env.Sender.Send(context.Background(), h.Message(1))
	require.NoError(t, err)
}

func sendConcurrently(t *testing.T, s providers.Sender, h Harness, n, offset int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			_, errs[i] = s.Send(context.Background(), h.Message(offset+i))
		}(i)
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "sender %d", i)
	}
}
