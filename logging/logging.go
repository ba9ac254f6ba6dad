// Package logging builds smsq's zerolog loggers: JSON by default, readable
// on a terminal, and every line passed through the mask writer so that no
// phone number or configured secret reaches the output.
package logging

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/smsq/smsq/mask"
)

// Options configure a logger.
type Options struct {
	// Format: "json" (default), "console", or "auto" (console when out is a
	// terminal).
	Format string
	// Level: debug, info (default), warn, error.
	Level string
	// Secrets are redacted from every line.
	Secrets *mask.Secrets
}

// New returns a logger writing to out.
func New(out io.Writer, o Options) zerolog.Logger {
	w := mask.NewWriter(out, o.Secrets)
	format := o.Format
	if format == "auto" {
		format = "json"
		if f, ok := out.(*os.File); ok && isTerminal(f) {
			format = "console"
		}
	}
	if format == "console" {
		// The console writer formats first, then the mask writer sees the
		// final text.
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	lvl, err := zerolog.ParseLevel(o.Level)
	if err != nil || o.Level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Asynq adapts a zerolog logger to asynq.Logger.
type Asynq struct{ L zerolog.Logger }

func (a Asynq) Debug(args ...any) { a.L.Debug().Msg(fmt.Sprint(args...)) }
func (a Asynq) Info(args ...any)  { a.L.Info().Msg(fmt.Sprint(args...)) }
func (a Asynq) Warn(args ...any)  { a.L.Warn().Msg(fmt.Sprint(args...)) }
func (a Asynq) Error(args ...any) { a.L.Error().Msg(fmt.Sprint(args...)) }
func (a Asynq) Fatal(args ...any) { a.L.Fatal().Msg(fmt.Sprint(args...)) }
