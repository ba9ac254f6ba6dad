package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is one scenario's figures.
type Report struct {
	Scenario string
	// Setup says what ran, in one line (workers, rates, sizes).
	Setup   string
	Rows    []Row
	Notes   []string
	Elapsed time.Duration
}

// Row is one figure. Target is empty for figures reported for
// information; otherwise Met says whether the figure meets it.
type Row struct {
	Metric string
	Value  string
	Target string
	Met    bool
}

// info adds a figure without a target.
func (r *Report) info(metric, format string, args ...any) {
	r.Rows = append(r.Rows, Row{Metric: metric, Value: fmt.Sprintf(format, args...)})
}

// check adds a figure with its target.
func (r *Report) check(metric, value, target string, met bool) {
	r.Rows = append(r.Rows, Row{Metric: metric, Value: value, Target: target, Met: met})
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// OK reports whether every target was met.
func (r *Report) OK() bool {
	for _, row := range r.Rows {
		if row.Target != "" && !row.Met {
			return false
		}
	}
	return true
}

func (row Row) verdict() string {
	switch {
	case row.Target == "":
		return ""
	case row.Met:
		return "ok"
	}
	return "MISSED"
}

// Print writes the report as an aligned text table or as Markdown.
func (r *Report) Print(w io.Writer, markdown bool) {
	if r.Setup != "" {
		fmt.Fprintf(w, "setup: %s\n", r.Setup)
	}
	if markdown {
		fmt.Fprintln(w, "\n| figure | measured | target | |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, row := range r.Rows {
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", row.Metric, row.Value, row.Target, row.verdict())
		}
		fmt.Fprintln(w)
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "figure\tmeasured\ttarget\t")
		for _, row := range r.Rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.Metric, row.Value, row.Target, row.verdict())
		}
		_ = tw.Flush()
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	status := "all targets met"
	if !r.OK() {
		status = "TARGET MISSED"
	}
	fmt.Fprintf(w, "%s: %s in %s\n", r.Scenario, status, r.Elapsed.Round(time.Second))
}

func pct(x float64) string { return fmt.Sprintf("%+.2f%%", 100*x) }

func dur(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
