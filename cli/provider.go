package cli

import (
	"fmt"
	"sort"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/throttle"
)

func init() {
	extraCommands = append(extraCommands, (*env).balanceCmd, (*env).providerCmd)
}

func (e *env) balanceCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "balance",
		Short: "Show a provider account's remaining credit (keccel, sakari)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, conn, c, err := e.open()
			if err != nil {
				return err
			}
			defer conn.Close()
			defer c.Close()
			senders, err := app.Senders(cfg, conn.Redis, zerolog.Nop())
			if err != nil {
				return err
			}
			s, ok := senders[name]
			if !ok {
				return fmt.Errorf("provider %q is not enabled (enabled: %s)", name, app.ProviderList(cfg.Providers.Names()))
			}
			bc, ok := s.(providers.BalanceChecker)
			if !ok {
				return fmt.Errorf("%s documents no balance endpoint", name)
			}
			b, err := bc.Balance(cmd.Context())
			if err != nil {
				return err
			}
			if e.jsonOut {
				return e.printJSON(map[string]any{"provider": name, "amount": b.Amount, "unit": b.Unit, "status": b.Status, "expires": b.Expires})
			}
			fmt.Fprintf(e.stdout, "%s: %g %s", name, b.Amount, b.Unit)
			if b.Status != "" {
				fmt.Fprintf(e.stdout, " (account %s)", b.Status)
			}
			if !b.Expires.IsZero() {
				fmt.Fprintf(e.stdout, ", expires %s", b.Expires.Format(time.RFC3339))
			}
			fmt.Fprintln(e.stdout)
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "provider", "p", "", "keccel or sakari")
	_ = cmd.MarkFlagRequired("provider")
	return cmd
}

func (e *env) providerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "provider", Short: "Pause, resume and inspect providers for all workers"}
	var reason string
	pause := &cobra.Command{
		Use: "pause <provider>", Short: "Stop every worker from calling a provider until resumed", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withGuard(func(g guard) error {
				if err := g.Pause(cmd.Context(), args[0], reason); err != nil {
					return err
				}
				return e.say(map[string]string{"provider": args[0], "paused": "true"}, "%s paused for all workers\n", args[0])
			})
		},
	}
	pause.Flags().StringVar(&reason, "reason", "paused by operator", "shown in provider status")
	resume := &cobra.Command{
		Use: "resume <provider>", Short: "Let workers call a paused provider again", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withGuard(func(g guard) error {
				if err := g.Resume(cmd.Context(), args[0]); err != nil {
					return err
				}
				return e.say(map[string]string{"provider": args[0], "paused": "false"}, "%s resumed\n", args[0])
			})
		},
	}
	status := &cobra.Command{
		Use: "status [provider…]", Short: "Show limiter, pause and breaker state per provider",
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withGuard(func(g guard) error {
				names := args
				if len(names) == 0 {
					names = g.names
				}
				sort.Strings(names)
				out := map[string]any{}
				for _, n := range names {
					st, err := g.Status(cmd.Context(), n)
					if err != nil {
						return err
					}
					out[n] = st
					if !e.jsonOut {
						fmt.Fprintf(e.stdout, "%s\n", n)
						printStatus(e, st)
					}
				}
				if e.jsonOut {
					return e.printJSON(out)
				}
				return nil
			})
		},
	}
	cmd.AddCommand(pause, resume, status)
	return cmd
}

func (e *env) say(v any, format string, args ...any) error {
	if e.jsonOut {
		return e.printJSON(v)
	}
	fmt.Fprintf(e.stdout, format, args...)
	return nil
}

// guard is a throttle guard plus the provider names it knows.
type guard struct {
	*throttle.Guard
	names []string
}

func (e *env) withGuard(fn func(guard) error) error {
	cfg, conn, c, err := e.open()
	if err != nil {
		return err
	}
	defer conn.Close()
	defer c.Close()
	g, err := app.Guard(cfg, conn.Redis, zerolog.Nop())
	if err != nil {
		return err
	}
	return fn(guard{Guard: g, names: cfg.Providers.Names()})
}

func printStatus(e *env, st throttle.Status) {
	rate := "unlimited"
	if !st.Rate.Unlimited() {
		rate = st.Rate.String()
	}
	fmt.Fprintf(e.stdout, "  rate:        %s (cost by %s)\n", rate, st.CostBy)
	if !st.BookedUntil.IsZero() {
		fmt.Fprintf(e.stdout, "  booked until %s\n", st.BookedUntil.Format(time.RFC3339Nano))
	}
	if st.Paused {
		fmt.Fprintf(e.stdout, "  PAUSED:      %s\n", st.PauseReason)
	}
	if !st.HeldUntil.IsZero() {
		fmt.Fprintf(e.stdout, "  429 hold until %s (%d in a row)\n", st.HeldUntil.Format(time.RFC3339), st.Consecutive429)
	}
	br := st.Breaker.State
	if br == "" {
		br = "closed (no transition published)"
	}
	fmt.Fprintf(e.stdout, "  breaker:     %s\n", br)
	fmt.Fprintf(e.stdout, "  granted %d, snoozed %d, rate-limited %d\n", st.Granted, st.Snoozed, st.RateLimited)
}
