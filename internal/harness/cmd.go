package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// quietRedis drops go-redis's own log lines (a "connection refused" per
// dial while a Redis is down, which runs cause on purpose): a run reports
// what its callers saw instead.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// QuietRedis silences go-redis's own logger for the whole process.
func QuietRedis() { redis.SetLogger(quietRedis{}) }

// Main is a run command's main: go-redis quiet, ctx cancelled on SIGINT
// or SIGTERM, and the process exits with run's status.
func Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	QuietRedis()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit is the status for a run's outcome: 0 for none, 1 when a check
// failed (err is failed), 2 when the run could not be made. An error is
// written to stderr, prefixed "<name>: " unless it says so already.
func Exit(stderr io.Writer, name string, err, failed error) int {
	if err == nil {
		return 0
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, name+":") {
		msg = name + ": " + msg
	}
	fmt.Fprintln(stderr, msg)
	if errors.Is(err, failed) {
		return 1
	}
	return 2
}

// FlagExit is the status for a flag parsing error: 0 for -h, 2 otherwise
// (the flag package has said why).
func FlagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// RunFlags defines on fs the flags of o every run command takes but
// -quick, whose help says what quick means for the run: -root, -dir,
// -keep and -md.
func RunFlags(fs *flag.FlagSet, o *RunOptions) {
	fs.StringVar(&o.Root, "root", "", "module root to build cmd/worker and cmd/scheduler in (default: from go env GOMOD)")
	fs.StringVar(&o.Dir, "dir", "", "keep binaries, Redis data and process logs in this directory (default: a temporary one)")
	fs.BoolVar(&o.KeepLogs, "keep", false, "keep the temporary directory with the process logs")
	fs.BoolVar(&o.Markdown, "md", false, "print the table as Markdown")
}
