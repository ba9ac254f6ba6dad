package delivery_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/delivery"
)

func TestScheduleDelay(t *testing.T) {
	t.Parallel()
	def := delivery.Schedule{}
	short := delivery.Schedule{Steps: []time.Duration{time.Second, 2 * time.Second}, Every: 5 * time.Second}
	for _, tc := range []struct {
		name string
		s    delivery.Schedule
		n    int
		want time.Duration
	}{
		{"default first poll", def, 0, 30 * time.Second},
		{"default second", def, 1, 2 * time.Minute},
		{"default third", def, 2, 10 * time.Minute},
		{"default fourth", def, 3, time.Hour},
		{"default then every 4h", def, 4, 4 * time.Hour},
		{"default far later", def, 40, 4 * time.Hour},
		{"custom step", short, 1, 2 * time.Second},
		{"custom every", short, 2, 5 * time.Second},
		{"steps only: every defaults", delivery.Schedule{Steps: []time.Duration{time.Second}}, 3, 4 * time.Hour},
	} {
		require.Equal(t, tc.want, tc.s.Delay(tc.n), tc.name)
	}
}

func TestScheduleValidateNamesTheField(t *testing.T) {
	t.Parallel()
	require.NoError(t, delivery.Schedule{}.Validate())
	require.NoError(t, delivery.DefaultSchedule().Validate())
	err := delivery.Schedule{Steps: []time.Duration{time.Second, 0}, Every: -time.Second}.Validate()
	require.ErrorContains(t, err, "delivery.poll.steps[1]")
	require.ErrorContains(t, err, "delivery.poll.every")
}

func TestOptionsValidateNamesMissingCollaborators(t *testing.T) {
	t.Parallel()
	err := delivery.Options{Expiry: -time.Hour}.Validate()
	for _, want := range []string{"Ledger: required", "Redis: required", "Queue: required", "Tasks: required", "delivery.expiry"} {
		require.ErrorContains(t, err, want)
	}
	_, err = delivery.New(delivery.Options{})
	require.Error(t, err)
}

func TestValidateSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		secret string
		ok     bool
	}{
		{"", true},
		{"abcdefghijklmnop", true},
		{"A1-_.~" + strings.Repeat("x", 20), true},
		{"short", false},
		{"has/slash/in/it/long", false},
		{"has?query=and-long-enough", false},
		{"has space and long enough", false},
	} {
		err := delivery.ValidateSecret(tc.secret)
		if tc.ok {
			require.NoError(t, err, tc.secret)
		} else {
			require.ErrorContains(t, err, "delivery.callback_secret", tc.secret)
			require.NotContains(t, err.Error(), tc.secret, "the secret is not echoed")
		}
	}
}
