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
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Errors matched with errors.Is.
var (
	// ErrNoRedis: no redis-server binary on PATH.
	ErrNoRedis = errors.New("redis-server not found on PATH: install it (Debian: apt-get install -y redis-server)")
	// ErrNoSentinel: no redis-sentinel binary on PATH.
	ErrNoSentinel = errors.New("redis-sentinel not found on PATH: install it (Debian: apt-get install -y redis-sentinel)")
	// ErrFailed: the run completed but a check failed; the report says which.
	ErrFailed = errors.New("proof: a check failed")
)

// Common are the settings both proofs share.
type Common struct {
	// Quick runs small sizes and short phases (a smoke run for CI); the
	// figures of record come from full runs. Default false.
	Quick bool `koanf:"quick"`
	// Root is the module root where cmd/worker and cmd/scheduler are built.
	// Default "": found with `go env GOMOD`.
	Root string `koanf:"root"`
	// Dir is where the run keeps binaries, Redis data and process logs.
	// Default "": a new temporary directory, removed at the end unless
	// KeepLogs.
	Dir string `koanf:"dir"`
	// KeepLogs keeps Dir after the run. Default false.
	KeepLogs bool `koanf:"keep_logs"`
	// Markdown prints the table as Markdown. Default false: aligned text.
	Markdown bool `koanf:"markdown"`
	// Out receives progress lines and the table. Default os.Stdout.
	Out io.Writer `koanf:"-"`
}

func (c Common) out() io.Writer {
	if c.Out == nil {
		return os.Stdout
	}
	return c.Out
}

// run is one proof run's workspace: its directory and built binaries.
type run struct {
	c         Common
	dir       string
	start     time.Time
	loadStart string
}

func newRun(ctx context.Context, c Common, name string, binaries ...string) (*run, func(), error) {
	dir := c.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "smsq-proof-"+name+"-")
		if err != nil {
			return nil, nil, err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	r := &run{c: c, dir: dir, start: time.Now(), loadStart: loadAvg()}
	cleanup := func() {
		if c.KeepLogs || c.Dir != "" {
			fmt.Fprintf(c.out(), "logs and data kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}
	if err := r.build(ctx, binaries...); err != nil {
		cleanup()
		return nil, nil, err
	}
	return r, cleanup, nil
}

// logf prints a progress line stamped with the time since the run began.
func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.c.out(), "  [%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// at renders t as the run's clock, as the progress lines show it.
func (r *run) at(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%.1fs", t.Sub(r.start).Seconds())
}

func (r *run) bin(name string) string { return filepath.Join(r.dir, "bin", name) }

// build compiles the named commands (cmd/<name>) into dir/bin, once.
func (r *run) build(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	root := r.c.Root
	if root == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		mod := strings.TrimSpace(string(out))
		if err != nil || mod == "" || mod == os.DevNull {
			return errors.New("proof: cannot find the smsq module root: run from inside the repository or pass -root")
		}
		root = filepath.Dir(mod)
	}
	args := []string{"build", "-o", filepath.Join(r.dir, "bin") + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("proof: go build %s: %v: %s", strings.Join(names, " "), err, out)
	}
	return nil
}

// Row is one figure of a report. A row with a Target is a check.
type Row struct {
	Figure string
	Value  string
	Target string
	Met    bool
}

// Report is what a proof prints.
type Report struct {
	Title   string
	Setup   []string
	Rows    []Row
	Notes   []string
	Elapsed time.Duration
}

func (rp *Report) info(figure, format string, args ...any) {
	rp.Rows = append(rp.Rows, Row{Figure: figure, Value: fmt.Sprintf(format, args...)})
}

func (rp *Report) check(figure, value, target string, met bool) {
	rp.Rows = append(rp.Rows, Row{Figure: figure, Value: value, Target: target, Met: met})
}

func (rp *Report) note(format string, args ...any) {
	rp.Notes = append(rp.Notes, fmt.Sprintf(format, args...))
}

// OK reports whether every check passed.
func (rp *Report) OK() bool {
	for _, row := range rp.Rows {
		if row.Target != "" && !row.Met {
			return false
		}
	}
	return true
}

// Failed lists the checks that did not pass.
func (rp *Report) Failed() []string {
	var out []string
	for _, row := range rp.Rows {
		if row.Target != "" && !row.Met {
			out = append(out, row.Figure+": "+row.Value+" (want "+row.Target+")")
		}
	}
	return out
}

func verdict(row Row) string {
	switch {
	case row.Target == "":
		return ""
	case row.Met:
		return "ok"
	}
	return "FAILED"
}

// Print writes the report as an aligned table or as Markdown.
func (rp *Report) Print(w io.Writer, markdown bool) {
	fmt.Fprintf(w, "\n== %s\n", rp.Title)
	for _, s := range rp.Setup {
		fmt.Fprintf(w, "setup: %s\n", s)
	}
	if markdown {
		fmt.Fprintln(w, "\n| figure | measured | target | |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, row := range rp.Rows {
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", row.Figure, row.Value, row.Target, verdict(row))
		}
		fmt.Fprintln(w)
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "figure\tmeasured\ttarget\t")
		for _, row := range rp.Rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.Figure, row.Value, row.Target, verdict(row))
		}
		_ = tw.Flush()
	}
	for _, n := range rp.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	status := "all checks passed"
	if !rp.OK() {
		status = "CHECK FAILED"
	}
	fmt.Fprintf(w, "%s in %s\n", status, rp.Elapsed.Round(100*time.Millisecond))
}

// loadAvg is the 1-minute load average ("?" where /proc is missing): the
// proofs share the machine, and their timings say more next to it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// machine describes where the run happened, for the report.
func (r *run) machine() string {
	return fmt.Sprintf("%d cores, %s; 1-min load average %s at start, %s at end", runtime.NumCPU(), runtime.Version(), r.loadStart, loadAvg())
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitFor polls cond every step until it holds, timeout passes (an error
// naming what) or ctx ends.
func waitFor(ctx context.Context, timeout, step time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s", what, timeout)
		}
		if err := sleep(ctx, step); err != nil {
			return err
		}
	}
	return nil
}

func secs(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
