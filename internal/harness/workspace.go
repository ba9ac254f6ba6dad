package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RunOptions are the settings every whole-system run takes.
type RunOptions struct {
	// Quick runs small sizes and short phases (a smoke run for tests and
	// CI); the figures of record come from full runs. Default false.
	Quick bool `koanf:"quick"`
	// Root is the module root where the run's commands are built.
	// Default "": found with `go env GOMOD`.
	Root string `koanf:"root"`
	// Dir is where the run keeps binaries, Redis data and process logs.
	// Default "": a new temporary directory, removed at the end unless
	// KeepLogs.
	Dir string `koanf:"dir"`
	// KeepLogs keeps the temporary directory after the run. Default false.
	KeepLogs bool `koanf:"keep_logs"`
	// Markdown prints the table as Markdown. Default false: aligned text.
	Markdown bool `koanf:"markdown"`
	// Out receives progress lines and the report. Default os.Stdout.
	Out io.Writer `koanf:"-"`
}

// Output is Out, or os.Stdout when unset.
func (o RunOptions) Output() io.Writer {
	if o.Out == nil {
		return os.Stdout
	}
	return o.Out
}

// Workspace is one run's directory (its binaries in bin/, Redis data,
// process logs) and its clock.
type Workspace struct {
	// Dir is the run's directory.
	Dir string
	// Start is when the workspace was made: progress lines are stamped
	// with the time since.
	Start time.Time
	// LoadAtStart is the 1-minute load average then (see LoadAvg).
	LoadAtStart string

	o    RunOptions
	temp bool
	// bin is where the built commands are ("": Dir/bin); sub is set on a
	// workspace made by Sub.
	bin string
	sub bool
}

// NewWorkspace makes o.Dir, or a temporary directory named after the run
// when o.Dir is "". Close it when the run ends.
func NewWorkspace(name string, o RunOptions) (*Workspace, error) {
	w := &Workspace{Dir: o.Dir, Start: time.Now(), LoadAtStart: LoadAvg(), o: o}
	if w.Dir == "" {
		d, err := os.MkdirTemp("", "smsq-"+name+"-")
		if err != nil {
			return nil, err
		}
		w.Dir, w.temp = d, true
	} else if err := os.MkdirAll(w.Dir, 0o755); err != nil {
		return nil, err
	}
	return w, nil
}

// Sub makes a new directory inside w for one part of a run (its own Redis
// data and process logs: a scenario of a run that has several), named
// name plus a random suffix so parts may share a name. The sub-workspace
// shares w's options, binaries (Build and Bin act on w's bin/) and clock.
func (w *Workspace) Sub(name string) (*Workspace, error) {
	d, err := os.MkdirTemp(w.Dir, name+"-")
	if err != nil {
		return nil, err
	}
	return &Workspace{Dir: d, Start: w.Start, LoadAtStart: LoadAvg(), o: w.o, temp: w.temp, bin: w.binDir(), sub: true}, nil
}

// Close removes a temporary directory, unless KeepLogs; a directory that
// stays is named on Out. A sub-workspace's Close says nothing: its
// parent's names the directory kept.
func (w *Workspace) Close() {
	if w.sub {
		if w.temp && !w.o.KeepLogs {
			_ = os.RemoveAll(w.Dir)
		}
		return
	}
	if !w.temp || w.o.KeepLogs {
		fmt.Fprintf(w.o.Output(), "logs and data kept in %s\n", w.Dir)
		return
	}
	_ = os.RemoveAll(w.Dir)
}

// Build compiles cmd/<name> for each name into the workspace's bin/.
func (w *Workspace) Build(ctx context.Context, names ...string) error {
	return Build(ctx, w.o.Root, w.binDir(), names...)
}

// Bin is the path of the built command name.
func (w *Workspace) Bin(name string) string { return filepath.Join(w.binDir(), name) }

func (w *Workspace) binDir() string {
	if w.bin != "" {
		return w.bin
	}
	return filepath.Join(w.Dir, "bin")
}

// Logf prints a progress line stamped with the time since Start.
func (w *Workspace) Logf(format string, args ...any) {
	fmt.Fprintf(w.o.Output(), "  [%6.1fs] %s\n", time.Since(w.Start).Seconds(), fmt.Sprintf(format, args...))
}

// LoadAvg is the 1-minute load average ("?" without /proc): runs share
// the machine, and their timings say more beside it.
func LoadAvg() string {
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
