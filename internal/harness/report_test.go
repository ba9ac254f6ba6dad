package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func sampleReport() *Report {
	rp := &Report{Title: "a run", Setup: []string{"2 cores", "one redis"}, Elapsed: 1500 * time.Millisecond}
	rp.Info("sent", "%d messages", 10)
	rp.Check("lost", "0", "0", true)
	rp.Check("duplicates", "2", "≤ 1", false)
	rp.Note("timeline: %s", "nothing")
	return rp
}

func TestReportCollectsChecksAndNamesTheFailedOnes(t *testing.T) {
	t.Parallel()
	rp := sampleReport()
	require.False(t, rp.OK())
	require.Equal(t, []string{"duplicates: 2 (want ≤ 1)"}, rp.Failed())
	require.Equal(t, "CHECK FAILED", rp.Status())

	rp.Rows[2].Met = true
	require.True(t, rp.OK())
	require.Empty(t, rp.Failed())
	require.Equal(t, "all checks passed", rp.Status())
	require.True(t, (&Report{}).OK(), "a report without checks passes")
}

func TestReportPrintsAnAlignedTable(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	sampleReport().Print(&b, PrintOptions{})
	require.Equal(t, "\n== a run\n"+
		"setup: 2 cores\n"+
		"setup: one redis\n"+
		"figure      measured     target  \n"+
		"sent        10 messages          \n"+
		"lost        0            0       ok\n"+
		"duplicates  2            ≤ 1     FAILED\n"+
		"note: timeline: nothing\n", b.String())
}

func TestReportPrintsMarkdownWithTheCallersWords(t *testing.T) {
	t.Parallel()
	rp := sampleReport()
	rp.Title = "" // a caller that titles its output itself
	var b strings.Builder
	rp.Print(&b, PrintOptions{Markdown: true, NotePrefix: "  ", Missed: "MISSED"})
	require.Equal(t, "setup: 2 cores\n"+
		"setup: one redis\n"+
		"\n| figure | measured | target | |\n"+
		"|---|---|---|---|\n"+
		"| sent | 10 messages |  |  |\n"+
		"| lost | 0 | 0 | ok |\n"+
		"| duplicates | 2 | ≤ 1 | MISSED |\n"+
		"\n"+
		"  timeline: nothing\n", b.String())
}
