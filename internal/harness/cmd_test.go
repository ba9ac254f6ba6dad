package harness

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExitMapsOutcomesToStatuses(t *testing.T) {
	t.Parallel()
	failed := errors.New("chaos: a check failed")
	var b strings.Builder
	require.Equal(t, 0, Exit(&b, "chaos", nil, failed))
	require.Empty(t, b.String())

	require.Equal(t, 1, Exit(&b, "chaos", failed, failed))
	require.Equal(t, "chaos: a check failed\n", b.String(), "not prefixed twice")

	b.Reset()
	require.Equal(t, 2, Exit(&b, "chaos", fmt.Errorf("start: %w", ErrNoRedis), failed))
	require.Equal(t, "chaos: start: "+ErrNoRedis.Error()+"\n", b.String())
}

func TestFlagExitAndRunFlags(t *testing.T) {
	t.Parallel()
	require.Equal(t, 0, FlagExit(flag.ErrHelp))
	require.Equal(t, 2, FlagExit(errors.New("bad flag")))

	var o RunOptions
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	RunFlags(fs, &o)
	require.NoError(t, fs.Parse([]string{"-root", "/src", "-dir", "/tmp/run", "-keep", "-md"}))
	require.Equal(t, RunOptions{Root: "/src", Dir: "/tmp/run", KeepLogs: true, Markdown: true}, o)
}
