package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSubWorkspaceSharesBinariesAndGoesAwayOnClose(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w, err := NewWorkspace("subtest", RunOptions{Out: &out})
	require.NoError(t, err)
	defer w.Close()

	a, err := w.Sub("part")
	require.NoError(t, err)
	b, err := w.Sub("part")
	require.NoError(t, err)
	require.NotEqual(t, a.Dir, b.Dir, "two parts of one name get directories of their own")
	require.Equal(t, w.Dir, filepath.Dir(a.Dir))
	require.Equal(t, w.Bin("worker"), a.Bin("worker"), "a part runs the binaries its parent built")
	require.Equal(t, w.Start, a.Start)

	a.Close()
	_, err = os.Stat(a.Dir)
	require.True(t, os.IsNotExist(err), "a temporary part is removed when it closes")
	_, err = os.Stat(b.Dir)
	require.NoError(t, err, "closing one part leaves the others")
	require.Empty(t, out.String(), "a part names nothing: its parent does")

	w.Close()
	_, err = os.Stat(w.Dir)
	require.True(t, os.IsNotExist(err))
}

func TestSubWorkspaceIsKeptWhenItsParentIs(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]RunOptions{
		"keep logs":     {KeepLogs: true},
		"own directory": {Dir: filepath.Join(t.TempDir(), "run")},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			o.Out = &out
			w, err := NewWorkspace("subtest", o)
			require.NoError(t, err)
			s, err := w.Sub("part")
			require.NoError(t, err)
			s.Close()
			_, err = os.Stat(s.Dir)
			require.NoError(t, err, "the part's logs stay with the run's")
			require.Empty(t, out.String())
			w.Close()
			require.Contains(t, out.String(), w.Dir, "the parent names what it keeps")
			if o.KeepLogs {
				_ = os.RemoveAll(w.Dir)
			}
		})
	}
}
