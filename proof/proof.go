// Package proof holds smsq's two operational proofs, each a whole-system
// run against real Redis processes and real worker processes:
//
//   - ScaleOut: three worker and two scheduler processes share one Redis; a
//     large campaign and a stream of single sends go out while the workers
//     are restarted one at a time (SIGTERM) and one is killed (SIGKILL) in
//     the middle of a provider call. It checks from the sandbox's counts and
//     smsq's own records that every recipient was submitted exactly once,
//     that every duplicate is one smsq marked "unknown", and that the
//     provider rate limits held.
//   - Failover: a Redis master, a replica and three Sentinels; the master
//     is killed with SIGKILL under load, the Sentinels promote the replica,
//     and smsq reconnects and finishes. It counts what was refused, lost or
//     sent twice, and says why.
//
// Both print a table of figures; cmd/proof is the command-line front and
// docs/proofs.md records the figures of a full run.
package proof

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/smsq/smsq/internal/harness"
)

// Errors matched with errors.Is.
var (
	// ErrNoRedis: no redis-server binary on PATH.
	ErrNoRedis = harness.ErrNoRedis
	// ErrNoSentinel: no redis-sentinel binary on PATH.
	ErrNoSentinel = harness.ErrNoSentinel
	// ErrFailed: the run completed but a check failed; the report says which.
	ErrFailed = errors.New("proof: a check failed")
)

// Common are the settings both proofs share: Quick, Root, Dir, KeepLogs,
// Markdown and Out, documented on harness.RunOptions.
type Common = harness.RunOptions

// run is one proof run's workspace: its directory, built binaries and
// clock.
type run struct {
	*harness.Workspace
}

// newRun makes the workspace and builds the named commands into it; the
// returned func removes it (or says where it is kept).
func newRun(ctx context.Context, c Common, name string, binaries ...string) (*run, func(), error) {
	ws, err := harness.NewWorkspace("proof-"+name, c)
	if err != nil {
		return nil, nil, err
	}
	if err := ws.Build(ctx, binaries...); err != nil {
		ws.Close()
		return nil, nil, err
	}
	return &run{ws}, ws.Close, nil
}

// at renders t as the run's clock, as the progress lines show it.
func (r *run) at(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%.1fs", t.Sub(r.Start).Seconds())
}

// Row is one figure of a report. A row with a Target is a check.
type Row = harness.Row

// Report is what a proof prints.
type Report = harness.Report

// printReport writes the report, each note on a "note:" line, and a
// closing verdict line.
func printReport(w io.Writer, rp *Report, markdown bool) {
	rp.Print(w, harness.PrintOptions{Markdown: markdown})
	fmt.Fprintf(w, "%s in %s\n", rp.Status(), rp.Elapsed.Round(100*time.Millisecond))
}

// machine describes where the run happened, for the report.
func (r *run) machine() string {
	return fmt.Sprintf("%d cores, %s; 1-min load average %s at start, %s at end", runtime.NumCPU(), runtime.Version(), r.LoadAtStart, harness.LoadAvg())
}

func secs(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
