package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/mask"
	"github.com/smsq/smsq/providers/sakari"
)

func init() { extraCommands = append(extraCommands, (*env).webhooksCmd) }

// webhook is a subscription as the command prints it.
type webhook struct {
	ID         string   `json:"id,omitempty"`
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"`
}

func (e *env) webhooksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Manage Sakari webhook subscriptions (delivery reports pushed to the worker)",
		Long: "Manage the Sakari account's webhook subscriptions. Point message-status events at\n" +
			"http://<worker.http_addr>/callbacks/<delivery.callback_secret>/sakari so delivery\n" +
			"reports arrive without polling. The callback secret is shown as *** in output.",
	}
	var url string
	var events []string
	subscribe := &cobra.Command{
		Use: "subscribe", Short: "Subscribe a URL to Sakari events (default message-status)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withSakari(cmd.Context(), func(c *sakari.Client, hide func(string) string) error {
				h, err := c.Subscribe(cmd.Context(), url, events)
				if err != nil {
					return err
				}
				w := shown(h, hide)
				return e.say(w, "subscribed %s to %s\n", w.URL, strings.Join(w.EventTypes, ", "))
			})
		},
	}
	subscribe.Flags().StringVar(&url, "url", "", "callback URL (required)")
	subscribe.Flags().StringSliceVar(&events, "event", []string{sakari.EventMessageStatus}, "event type; repeat or comma-separate for several")
	_ = subscribe.MarkFlagRequired("url")

	list := &cobra.Command{
		Use: "list", Short: "List the account's webhook subscriptions", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withSakari(cmd.Context(), func(c *sakari.Client, hide func(string) string) error {
				hs, err := c.ListWebhooks(cmd.Context())
				if err != nil {
					return err
				}
				out := make([]webhook, 0, len(hs))
				for _, h := range hs {
					out = append(out, shown(h, hide))
				}
				if e.jsonOut {
					return e.printJSON(out)
				}
				if len(out) == 0 {
					fmt.Fprintln(e.stdout, "no webhook subscriptions")
				}
				for _, w := range out {
					fmt.Fprintf(e.stdout, "%s\t%s\n", w.URL, strings.Join(w.EventTypes, ","))
				}
				return nil
			})
		},
	}

	var unURL string
	unsubscribe := &cobra.Command{
		Use: "unsubscribe", Short: "Remove the subscription of a URL", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withSakari(cmd.Context(), func(c *sakari.Client, hide func(string) string) error {
				if err := c.Unsubscribe(cmd.Context(), unURL); err != nil {
					return err
				}
				u := hide(unURL)
				return e.say(map[string]any{"url": u, "unsubscribed": true}, "unsubscribed %s\n", u)
			})
		},
	}
	unsubscribe.Flags().StringVar(&unURL, "url", "", "callback URL to remove (required)")
	_ = unsubscribe.MarkFlagRequired("url")

	cmd.AddCommand(subscribe, list, unsubscribe)
	return cmd
}

// withSakari opens the configured Sakari adapter and a function that hides
// the callback secret in what is printed.
func (e *env) withSakari(ctx context.Context, fn func(*sakari.Client, func(string) string) error) error {
	cfg, conn, c, err := e.open()
	if err != nil {
		return err
	}
	defer conn.Close()
	defer c.Close()
	if err := app.Ping(ctx, cfg, conn); err != nil {
		return err
	}
	sc, err := app.SakariClient(cfg, conn)
	if err != nil {
		return err
	}
	secrets := &mask.Secrets{}
	secrets.Add(cfg.Delivery.CallbackSecret)
	return fn(sc, func(s string) string { return string(secrets.Redact([]byte(s))) })
}

func shown(h sakari.Webhook, hide func(string) string) webhook {
	ev := h.EventTypes
	if ev == nil {
		ev = []string{}
	}
	return webhook{ID: h.ID, URL: hide(h.URL), EventTypes: ev}
}
