package harness

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Row is one figure of a report. A row with a Target is a check, and Met
// says whether the figure meets it.
type Row struct {
	Figure, Value, Target string
	Met                   bool
}

// Report is what a run prints: a title, how the run was set up, a table
// of figures and notes under it.
type Report struct {
	Title   string
	Setup   []string
	Rows    []Row
	Notes   []string
	Elapsed time.Duration
}

// Info adds a figure without a target.
func (rp *Report) Info(figure, format string, args ...any) {
	rp.Rows = append(rp.Rows, Row{Figure: figure, Value: fmt.Sprintf(format, args...)})
}

// Check adds a figure with its target and whether it meets it.
func (rp *Report) Check(figure, value, target string, met bool) {
	rp.Rows = append(rp.Rows, Row{Figure: figure, Value: value, Target: target, Met: met})
}

// Note adds a line under the table.
func (rp *Report) Note(format string, args ...any) {
	rp.Notes = append(rp.Notes, fmt.Sprintf(format, args...))
}

// OK reports whether every check passed.
func (rp *Report) OK() bool { return len(rp.Failed()) == 0 }

// Failed lists the checks that did not pass, each with its value and
// target.
func (rp *Report) Failed() []string {
	var out []string
	for _, row := range rp.Rows {
		if row.Target != "" && !row.Met {
			out = append(out, row.Figure+": "+row.Value+" (want "+row.Target+")")
		}
	}
	return out
}

// PrintOptions say how Print lays a report out.
type PrintOptions struct {
	// Markdown prints the table as Markdown. Default false: aligned text.
	Markdown bool `koanf:"markdown"`
	// NotePrefix begins every note line. Default "note: ".
	NotePrefix string `koanf:"note_prefix"`
	// Missed is the verdict shown beside a check not met. Default "FAILED".
	Missed string `koanf:"missed"`
}

// Print writes the title (when there is one), a "setup:" line for each
// Setup entry, the table and the notes. The closing verdict line is the
// run's own to write.
func (rp *Report) Print(w io.Writer, o PrintOptions) {
	if o.NotePrefix == "" {
		o.NotePrefix = "note: "
	}
	if o.Missed == "" {
		o.Missed = "FAILED"
	}
	verdict := func(row Row) string {
		switch {
		case row.Target == "":
			return ""
		case row.Met:
			return "ok"
		}
		return o.Missed
	}
	if rp.Title != "" {
		fmt.Fprintf(w, "\n== %s\n", rp.Title)
	}
	for _, s := range rp.Setup {
		fmt.Fprintf(w, "setup: %s\n", s)
	}
	if o.Markdown {
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
		fmt.Fprintf(w, "%s%s\n", o.NotePrefix, n)
	}
}

// Status is the start of a closing line: "all checks passed" or "CHECK
// FAILED".
func (rp *Report) Status() string {
	if rp.OK() {
		return "all checks passed"
	}
	return "CHECK FAILED"
}
