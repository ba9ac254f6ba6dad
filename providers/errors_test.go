package providers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/providers"
)

func TestErrorMatchesExactlyItsClass(t *testing.T) {
	sentinels := map[providers.Class]error{
		providers.ClassRetryable: providers.ErrRetryable, providers.ClassRateLimited: providers.ErrRateLimited,
		providers.ClassAuth: providers.ErrAuth, providers.ClassRecipient: providers.ErrInvalidRecipient,
		providers.ClassRequest: providers.ErrPermanent,
	}
	for class := range sentinels {
		err := fmt.Errorf("wrapped: %w", &providers.Error{Class: class, Provider: "keccel", Op: "send"})
		for other, s := range sentinels {
			require.Equal(t, class == other, errors.Is(err, s), "%s vs %s", class, other)
		}
		require.Equal(t, class, providers.ClassOf(err))
	}
	require.Equal(t, providers.ClassRetryable, providers.ClassOf(errors.New("anything else")))
	require.True(t, providers.ClassRecipient.Permanent())
	require.False(t, providers.ClassRateLimited.Permanent())
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		" 120 ":                         2 * time.Minute,
		"0":                             0,
		"-3":                            0,
		"soon":                          0,
		"Sun, 22 Nov 2026 10:01:30 GMT": 90 * time.Second,
		"Sun, 22 Nov 2026 09:00:00 GMT": 0,
	} {
		require.Equal(t, want, providers.ParseRetryAfter(in, now), in)
	}
}

func TestStatusError(t *testing.T) {
	now := time.Now()
	resp := func(code int, h http.Header) *http.Response { return &http.Response{StatusCode: code, Header: h} }
	e := providers.StatusError("sakari", "send", resp(429, http.Header{"Retry-After": {"3"}}), now)
	require.ErrorIs(t, e, providers.ErrRateLimited)
	require.Equal(t, 3*time.Second, e.RetryAfter)
	require.ErrorIs(t, providers.StatusError("sakari", "send", resp(502, nil), now), providers.ErrRetryable)
	require.ErrorIs(t, providers.StatusError("sakari", "send", resp(401, nil), now), providers.ErrAuth)
	require.Nil(t, providers.StatusError("sakari", "send", resp(400, nil), now))
	require.Nil(t, providers.StatusError("sakari", "send", resp(200, nil), now))
}

func TestTransportErrorHidesQueryAndKeepsCancel(t *testing.T) {
	ue := &url.Error{Op: "Get", URL: "https://api.kandy.io/v1.2/devices/smss?key=UAT-SECRET&device_id=1", Err: syscall.ECONNRESET}
	err := providers.TransportError("kandy", "send", ue)
	require.ErrorIs(t, err, providers.ErrRetryable)
	require.NotContains(t, err.Error(), "UAT-SECRET")
	require.Contains(t, err.Error(), "connection reset")
	require.ErrorIs(t, err, syscall.ECONNRESET)

	require.Equal(t, context.Canceled, providers.TransportError("kandy", "send", context.Canceled))
}
