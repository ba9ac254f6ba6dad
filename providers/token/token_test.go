package token_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/providers/token"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// issuer counts fetches and hands out numbered tokens valid for ttl.
type issuer struct {
	n   atomic.Int32
	ttl time.Duration
	clk *clock
}

func (i *issuer) fetch(ctx context.Context) (token.Token, error) {
	n := i.n.Add(1)
	time.Sleep(5 * time.Millisecond) // let concurrent callers pile up
	t := token.Token{Value: fmt.Sprintf("tok-%d", n)}
	if i.ttl > 0 {
		t.Expiry = i.clk.Now().Add(i.ttl)
	}
	return t, nil
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	iss := &issuer{ttl: time.Hour, clk: clk}
	src := token.NewSource(token.Config{Key: "p:1", Fetch: iss.fetch, Now: clk.Now})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := src.Get(context.Background())
			require.NoError(t, err)
			require.Equal(t, "tok-1", tok.Value)
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, iss.n.Load())
}

func TestTokenIsRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	iss := &issuer{ttl: time.Hour, clk: clk}
	src := token.NewSource(token.Config{Key: "p:1", Fetch: iss.fetch, Now: clk.Now, RefreshBefore: 10 * time.Minute})
	ctx := context.Background()
	tok, _ := src.Get(ctx)
	require.Equal(t, "tok-1", tok.Value)
	clk.Add(49 * time.Minute)
	tok, _ = src.Get(ctx)
	require.Equal(t, "tok-1", tok.Value, "still 11 minutes left")
	clk.Add(2 * time.Minute)
	tok, _ = src.Get(ctx)
	require.Equal(t, "tok-2", tok.Value, "within RefreshBefore of expiry: replaced early")
}

func TestProcessesShareTokensThroughRedis(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client()
	clk := &clock{t: time.Now()}
	iss := &issuer{ttl: time.Hour, clk: clk}
	// Two Sources on one Redis store: two worker processes.
	var srcs []*token.Source
	for i := 0; i < 2; i++ {
		srcs = append(srcs, token.NewSource(token.Config{Key: token.Key("sakari", "id", "secret"), Fetch: iss.fetch,
			Store: &token.RedisStore{Client: rdb}, Now: clk.Now}))
	}
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tok, err := srcs[i%2].Get(context.Background())
			require.NoError(t, err)
			require.Equal(t, "tok-1", tok.Value)
		}(i)
	}
	wg.Wait()
	require.EqualValues(t, 1, iss.n.Load(), "one fetch for both processes")
	keys := rdb.Keys(context.Background(), "smsq:token:*").Val()
	for _, k := range keys {
		require.NotContains(t, k, "secret", "credentials are hashed in keys")
	}
}

func TestUseRetriesOnceAfterRejection(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	iss := &issuer{clk: clk}
	src := token.NewSource(token.Config{Key: "p:1", Fetch: iss.fetch, Now: clk.Now})
	var seen []string
	err := src.Use(context.Background(), func(tok token.Token) error {
		seen = append(seen, tok.Value)
		if tok.Value == "tok-1" {
			return fmt.Errorf("HTTP 401: %w", token.ErrRejected)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"tok-1", "tok-2"}, seen)

	// A second refusal is returned, not retried forever.
	calls := 0
	err = src.Use(context.Background(), func(tok token.Token) error {
		calls++
		return fmt.Errorf("HTTP 401: %w", token.ErrRejected)
	})
	require.True(t, errors.Is(err, token.ErrRejected))
	require.Equal(t, 2, calls)
}

func TestStaleInvalidateKeepsNewerToken(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client()
	st := &token.RedisStore{Client: rdb}
	ctx := context.Background()
	require.NoError(t, st.Put(ctx, "k", token.Token{Value: "new"}, 0))
	require.NoError(t, st.Drop(ctx, "k", "old"))
	got, ok, err := st.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "new", got.Value)
	require.NoError(t, st.Drop(ctx, "k", "new"))
	_, ok, _ = st.Get(ctx, "k")
	require.False(t, ok)
}

func TestRedisLockIsExclusive(t *testing.T) {
	t.Parallel()
	st := &token.RedisStore{Client: redistest.Start(t).Client()}
	ctx := context.Background()
	release, ok, err := st.Lock(ctx, "l", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, _ = st.Lock(ctx, "l", time.Minute)
	require.False(t, ok)
	release()
	_, ok, _ = st.Lock(ctx, "l", time.Minute)
	require.True(t, ok)
}

func TestDefaultRefreshMarginIsATenthOfTheLifetime(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	iss := &issuer{ttl: 20 * time.Minute, clk: clk}
	src := token.NewSource(token.Config{Key: "p:1", Fetch: iss.fetch, Now: clk.Now})
	ctx := context.Background()
	tok, _ := src.Get(ctx)
	require.Equal(t, "tok-1", tok.Value)
	clk.Add(17*time.Minute + 59*time.Second)
	tok, _ = src.Get(ctx)
	require.Equal(t, "tok-1", tok.Value, "more than 2 minutes (a tenth) left")
	clk.Add(2 * time.Second)
	tok, _ = src.Get(ctx)
	require.Equal(t, "tok-2", tok.Value, "inside the last tenth: replaced before it expires")
}
