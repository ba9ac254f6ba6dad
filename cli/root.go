// Package cli implements the enqueue command: the operator's way to send,
// inspect and control smsq. cmd/enqueue only calls Execute.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/pacing"
	"github.com/smsq/smsq/sms"
	"github.com/smsq/smsq/tasks"
)

// env is what every command shares.
type env struct {
	stdout, stderr io.Writer
	environ        []string
	configPath     string
	jsonOut        bool
}

// NewRoot returns the enqueue command tree.
func NewRoot(stdout, stderr io.Writer, environ []string) *cobra.Command {
	e := &env{stdout: stdout, stderr: stderr, environ: environ}
	root := &cobra.Command{
		Use:           "enqueue",
		Short:         "Send messages through smsq and watch what happens to them",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&e.configPath, "config", "c", lookup(environ, "SMSQ_CONFIG"), "YAML config file (env SMSQ_CONFIG); none: the embedded demo at its default address")
	root.PersistentFlags().BoolVar(&e.jsonOut, "json", false, "print machine-readable JSON")
	root.AddCommand(e.sendCmd(), e.bulkCmd(), e.statusCmd())
	for _, extra := range extraCommands {
		root.AddCommand(extra(e))
	}
	return root
}

// extraCommands lets later files add commands without touching NewRoot.
var extraCommands []func(*env) *cobra.Command

// Execute runs the command line and returns the process exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	root := NewRoot(stdout, stderr, environ)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		writeError(stdout, stderr, root, err)
		return 1
	}
	return 0
}

func writeError(stdout, stderr io.Writer, root *cobra.Command, err error) {
	if f := root.PersistentFlags().Lookup("json"); f != nil && f.Value.String() == "true" {
		_ = json.NewEncoder(stdout).Encode(map[string]any{"error": err.Error(), "fields": fieldsOf(err)})
		return
	}
	fmt.Fprintln(stderr, "error:", err)
}

// fieldsOf finds the field-level reason in err, whichever package's
// validation produced it.
func fieldsOf(err error) []*tasks.FieldError {
	var te *tasks.FieldError
	var ce *campaign.FieldError
	var pe *pacing.FieldError
	var se *sms.FieldError
	switch {
	case errors.As(err, &te):
		return []*tasks.FieldError{te}
	case errors.As(err, &ce):
		return []*tasks.FieldError{{Field: ce.Field, Reason: ce.Reason}}
	case errors.As(err, &pe):
		return []*tasks.FieldError{{Field: pe.Field, Reason: pe.Reason}}
	case errors.As(err, &se):
		return []*tasks.FieldError{{Field: se.Field, Reason: se.Reason}}
	}
	return nil
}

func lookup(environ []string, key string) string {
	for _, kv := range environ {
		if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
			return kv[len(key)+1:]
		}
	}
	return ""
}

// open loads the config and connects a producer client.
func (e *env) open() (config.Config, *app.Conn, *tasks.Client, error) {
	cfg, err := config.Load(e.configPath, e.environ)
	if err != nil {
		return cfg, nil, nil, err
	}
	cfg = app.Effective(cfg)
	conn, err := app.Connect(cfg)
	if err != nil {
		return cfg, nil, nil, err
	}
	return cfg, conn, tasks.NewClient(conn.Asynq, conn.Redis, app.Rules(cfg), app.LedgerOptions(cfg)), nil
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
