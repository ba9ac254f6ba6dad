package events_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/events"
)

func TestSignedBodiesVerify(t *testing.T) {
	t.Parallel()
	secret := "whsec-0123456789abcdef"
	body := []byte(`{"id":"m-1","state":"submitted"}`)
	at := time.Unix(1_780_000_000, 0)
	h := events.Sign(secret, at, body)
	require.True(t, strings.HasPrefix(h, "t=1780000000,v1="), h)
	require.Len(t, strings.TrimPrefix(h, "t=1780000000,v1="), 64, "hex SHA-256")

	cases := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"as sent", secret, h, body, at, nil},
		{"received a little later", secret, h, body, at.Add(4 * time.Minute), nil},
		{"receiver clock a little behind", secret, h, body, at.Add(-4 * time.Minute), nil},
		{"body changed", secret, h, []byte(`{"id":"m-1","state":"delivered"}`), at, events.ErrBadSignature},
		{"other secret", "whsec-other-secret-000", h, body, at, events.ErrBadSignature},
		{"timestamp changed", secret, strings.Replace(h, "t=1780000000", "t=1780000001", 1), body, at, events.ErrBadSignature},
		{"replayed too late", secret, h, body, at.Add(6 * time.Minute), events.ErrStale},
		{"from the future", secret, h, body, at.Add(-6 * time.Minute), events.ErrStale},
		{"empty header", secret, "", body, at, events.ErrNoSignature},
		{"no timestamp", secret, strings.TrimPrefix(h, "t=1780000000,"), body, at, events.ErrNoSignature},
		{"no signature", secret, "t=1780000000", body, at, events.ErrNoSignature},
		{"garbage", secret, "sha256=abcdef", body, at, events.ErrNoSignature},
		{"rotation: old and new signature", secret, h + ",v1=" + strings.Repeat("0", 64), body, at, nil},
		{"rotation: new first", secret, "t=1780000000,v1=" + strings.Repeat("0", 64) + ",v1=" + strings.TrimPrefix(h, "t=1780000000,v1="), body, at, nil},
	}
	for _, tc := range cases {
		err := events.VerifyAt(tc.secret, tc.header, tc.body, 0, tc.now)
		if tc.want == nil {
			require.NoError(t, err, tc.name)
		} else {
			require.ErrorIs(t, err, tc.want, tc.name)
		}
	}
}

func TestVerifyHonoursTolerance(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_780_000_000, 0)
	h := events.Sign("whsec-0123456789abcdef", at, nil)
	require.NoError(t, events.VerifyAt("whsec-0123456789abcdef", h, nil, time.Hour, at.Add(59*time.Minute)))
	require.ErrorIs(t, events.VerifyAt("whsec-0123456789abcdef", h, nil, time.Second, at.Add(2*time.Second)), events.ErrStale)
	require.NoError(t, events.Verify("whsec-0123456789abcdef", events.Sign("whsec-0123456789abcdef", time.Now(), nil), nil, 0))
}
