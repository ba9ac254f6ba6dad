package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/config"
)

func init() { extraCommands = append(extraCommands, (*env).serveCmd) }

func (e *env) serveCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the producer HTTP API (POST /v1/messages, campaigns, status)",
		Long: `Serves smsq's HTTP API for backends not written in Go, until interrupted.
Requests need one of the api.keys: "Authorization: Bearer <key>" or
"X-API-Key: <key>". Workers send signed status callbacks when
api.signing_secret is set.`,
		Example: `  enqueue serve --addr 127.0.0.1:8090
  curl -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
    -d '{"provider":"keccel","to":"+243812345678","text":"Your code is 4321"}' \
    http://127.0.0.1:8090/v1/messages`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(e.configPath, e.environ)
			if err != nil {
				return err
			}
			return app.RunAPI(cmd.Context(), cfg, e.stderr, app.APIOptions{Addr: addr, Ready: func(a string) {
				fmt.Fprintf(e.stdout, "smsq API listening on http://%s\n", a)
			}})
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (default: api.addr, 127.0.0.1:8090)")
	return cmd
}
