package throttle_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/throttle"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in       string
		count    float64
		per      time.Duration
		interval time.Duration
		str      string
	}{
		{"", 0, 0, 0, "unlimited"},
		{"50/s", 50, time.Second, 20 * time.Millisecond, "50/s"},
		{"100/min", 100, time.Minute, 600 * time.Millisecond, "100/min"},
		{"3000/h", 3000, time.Hour, 1200 * time.Millisecond, "3000/h"},
		{"0.5/s", 0.5, time.Second, 2 * time.Second, "0.5/s"},
		{" 10 / second ", 10, time.Second, 100 * time.Millisecond, "10/s"},
		{"5/hour", 5, time.Hour, 12 * time.Minute, "5/h"},
		{"100/10s", 100, 10 * time.Second, 100 * time.Millisecond, "100/10s"},
		{"1000000/s", 1e6, time.Second, time.Microsecond, "1000000/s"},
	} {
		r, err := throttle.ParseRate(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.count, r.Count, tc.in)
		require.Equal(t, tc.per, r.Per, tc.in)
		require.Equal(t, tc.interval, r.Interval(), tc.in)
		require.Equal(t, tc.str, r.String(), tc.in)
		require.Equal(t, tc.in == "", r.Unlimited(), tc.in)
	}
	for _, bad := range []string{"50", "/s", "abc/s", "0/s", "-3/s", "NaN/s", "Inf/s", "5/fortnight", "5/-1s", "5/0s", "2000000/s"} {
		_, err := throttle.ParseRate(bad)
		require.ErrorIs(t, err, throttle.ErrBadRate, bad)
	}
}

func TestProviderConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, throttle.ProviderConfig{}.Validate(), "all defaults")
	require.NoError(t, throttle.ProviderConfig{Rate: "50/s", Burst: 5, CostBy: "segment", BackoffBase: 2 * time.Second}.Validate())

	for _, tc := range []struct {
		cfg  throttle.ProviderConfig
		want string
	}{
		{throttle.ProviderConfig{Rate: "fast"}, "rate: "},
		{throttle.ProviderConfig{Burst: -1}, "burst: "},
		{throttle.ProviderConfig{CostBy: "byte"}, "cost_by: "},
		{throttle.ProviderConfig{MaxSleep: -time.Second}, "max_sleep: "},
		{throttle.ProviderConfig{BulkHorizon: -time.Second}, "bulk_horizon: "},
		{throttle.ProviderConfig{FailureRatio: 1.5}, "failure_ratio: "},
		{throttle.ProviderConfig{MinRequests: -1}, "min_requests: "},
		{throttle.ProviderConfig{OpenTimeout: -1}, "open_timeout: "},
		{throttle.ProviderConfig{HalfOpenRequests: -1}, "half_open_requests: "},
		{throttle.ProviderConfig{Interval: -1}, "interval: "},
		{throttle.ProviderConfig{BackoffBase: time.Minute, BackoffMax: time.Second}, "backoff_max: "},
		{throttle.ProviderConfig{BackoffBase: 10 * time.Minute}, "backoff_max: "}, // above the 5m default max
	} {
		err := tc.cfg.Validate()
		require.Error(t, err)
		require.Contains(t, err.Error(), tc.want)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	t.Parallel()
	err := throttle.Config{Providers: map[string]throttle.ProviderConfig{
		"sakari": {Rate: "lots", Burst: -2},
		"keccel": {Rate: "10/s"},
	}}.Validate()
	require.ErrorContains(t, err, "providers.sakari.throttle.rate: ")
	require.ErrorContains(t, err, "providers.sakari.throttle.burst: ")
	require.NotContains(t, err.Error(), "keccel")

	srv := redistest.Start(t)
	_, err = throttle.New(srv.Client(), throttle.Config{Providers: map[string]throttle.ProviderConfig{"sakari": {Rate: "lots"}}})
	require.ErrorContains(t, err, "providers.sakari.throttle.rate: ")
	_, err = throttle.New(nil, throttle.Config{})
	require.Error(t, err)
}

func TestUnknownProvider(t *testing.T) {
	t.Parallel()
	b := setup(t, throttle.ProviderConfig{})
	ctx := context.Background()
	ran := false
	err := b.guard.Do(ctx, throttle.Call{Provider: "nope"}, func(context.Context) error { ran = true; return nil })
	require.ErrorIs(t, err, throttle.ErrUnknownProvider)
	require.False(t, ran)
	require.ErrorIs(t, b.guard.Pause(ctx, "nope", ""), throttle.ErrUnknownProvider)
	require.ErrorIs(t, b.guard.Resume(ctx, "nope"), throttle.ErrUnknownProvider)
	_, err = b.guard.Status(ctx, "nope")
	require.ErrorIs(t, err, throttle.ErrUnknownProvider)
}
