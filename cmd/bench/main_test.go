package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFlagsFillTheOptionsAndLeaveTheScenarios(t *testing.T) {
	t.Parallel()
	o, fs, err := parse([]string{"-quick", "-md", "-keep", "-workers", "2", "-window", "5s", "-log-level", "info", "rate", "memory"}, io.Discard)
	require.NoError(t, err)
	require.True(t, o.Quick)
	require.True(t, o.Markdown)
	require.True(t, o.KeepLogs)
	require.Equal(t, 2, o.Workers)
	require.Equal(t, 5*time.Second, o.Window)
	require.Equal(t, "info", o.LogLevel)
	require.Zero(t, o.Backlog, "left to the library: its full or quick default")
	require.Equal(t, []string{"rate", "memory"}, fs.Args())
}

func TestHelpListsScenariosAndExitsZero(t *testing.T) {
	t.Parallel()
	var errb strings.Builder
	require.Equal(t, 0, run(t.Context(), []string{"-h"}, io.Discard, &errb))
	require.Contains(t, errb.String(), "usage: bench [flags] <scenario>... | all")
	require.Contains(t, errb.String(), "  dispatch ")
	require.Contains(t, errb.String(), "-profile")
}

func TestBadUsageExitsTwo(t *testing.T) {
	t.Parallel()
	var errb strings.Builder
	require.Equal(t, 2, run(t.Context(), []string{"-workers", "many"}, io.Discard, &errb))
	require.Contains(t, errb.String(), "-workers")

	errb.Reset()
	require.Equal(t, 2, run(t.Context(), nil, io.Discard, &errb))
	require.Contains(t, errb.String(), "bench: name a scenario")
	require.Contains(t, errb.String(), "usage: bench", "no scenario: the usage follows")

	errb.Reset()
	require.Equal(t, 2, run(t.Context(), []string{"nosuch"}, io.Discard, &errb))
	require.Contains(t, errb.String(), `bench: unknown scenario "nosuch"`)
	require.NotContains(t, errb.String(), "usage:")

	errb.Reset()
	require.Equal(t, 2, run(t.Context(), []string{"-workers", "99", "rate"}, io.Discard, &errb))
	require.Equal(t, "bench: workers: want 1..64\n", errb.String())
}
