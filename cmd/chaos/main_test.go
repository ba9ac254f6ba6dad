package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnsetCountsTakeTheModesDefault(t *testing.T) {
	t.Parallel()
	o, err := parse([]string{"-quick", "-seed", "7"}, io.Discard)
	require.NoError(t, err)
	require.True(t, o.Quick)
	require.Equal(t, uint64(7), o.Seed)
	require.Zero(t, o.Recipients, "left to the library: 3,000 in quick mode")
	require.Zero(t, o.Kills)
}

func TestExplicitCounts(t *testing.T) {
	t.Parallel()
	o, err := parse([]string{"-recipients", "1000", "-singles", "50", "-kills", "0", "-redis-restarts", "0"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 1000, o.Recipients)
	require.Equal(t, 50, o.Singles)
	require.Equal(t, -1, o.Kills, "an explicit 0 means none")
	require.Equal(t, -1, o.RedisRestarts)
}

func TestBadUsageExitsTwo(t *testing.T) {
	t.Parallel()
	var errb strings.Builder
	require.Equal(t, 2, run(context.Background(), []string{"-kills", "many"}, io.Discard, &errb))
	require.Contains(t, errb.String(), "-kills")
	errb.Reset()
	require.Equal(t, 2, run(context.Background(), []string{"extra"}, io.Discard, &errb))
	require.Contains(t, errb.String(), `unexpected argument "extra"`)
	errb.Reset()
	require.Equal(t, 2, run(context.Background(), []string{"-recipients", "0"}, io.Discard, &errb))
	require.Contains(t, errb.String(), "recipients")
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	var errb strings.Builder
	require.Equal(t, 0, run(context.Background(), []string{"-h"}, io.Discard, &errb))
	require.Contains(t, errb.String(), "-recipients")
}
