package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/mask"
	"github.com/smsq/smsq/tasks"
)

func (e *env) sendCmd() *cobra.Command {
	var r tasks.SendRequest
	var sendAt string
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Queue one message",
		Example: `  enqueue send --provider keccel --to +243812345678 --text "Your code is 4321"
  enqueue send --provider kaizala --to <group-id> --text "Meeting at 10" --subscribers +15551234567`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sendAt != "" {
				t, err := time.Parse(time.RFC3339, sendAt)
				if err != nil {
					return &tasks.FieldError{Field: "send_at", Reason: "want RFC 3339, e.g. 2026-11-22T18:00:00+01:00"}
				}
				r.SendAt = t
			}
			_, conn, c, err := e.open()
			if err != nil {
				return err
			}
			defer conn.Close()
			defer c.Close()
			acc, err := c.Send(cmd.Context(), r)
			if err != nil {
				return err
			}
			if e.jsonOut {
				return e.printJSON(acc)
			}
			word := "queued"
			if acc.Duplicate {
				word = "already known (same id): nothing new queued"
			}
			fmt.Fprintf(e.stdout, "%s\t%s\t%s\n", acc.Message.ID, acc.Message.State, word)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&r.Provider, "provider", "p", "", "provider: kaizala, kandy, keccel, sakari or conectaline")
	f.StringVarP(&r.To, "to", "t", "", "recipient number in E.164 (+243812345678); for kaizala, the group id")
	f.StringVarP(&r.Text, "text", "m", "", "message text")
	f.StringVarP(&r.From, "from", "f", "", "sender name or number (default: the provider's configured sender)")
	f.StringVar(&r.ID, "id", "", "idempotency key: the same id is only ever sent once (default: generated)")
	f.StringVar(&sendAt, "send-at", "", "send later, at this RFC 3339 time")
	f.StringSliceVar(&r.Subscribers, "subscribers", nil, "kaizala: only these subscribers of a public group")
	f.BoolVar(&r.AllSubscribers, "all-subscribers", false, "kaizala: every subscriber of a public group")
	f.BoolVar(&r.Bulk, "bulk", false, "use the bulk queue (behind transactional traffic)")
	f.StringVar(&r.CallbackURL, "callback-url", "", "URL that receives this message's status changes")
	return cmd
}

func (e *env) statusCmd() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "status <id>",
		Short: "Show a message's state and history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, conn, c, err := e.open()
			if err != nil {
				return err
			}
			defer conn.Close()
			defer c.Close()
			deadline := time.Now().Add(wait)
			var rec ledger.Record
			for {
				rec, err = c.Status(cmd.Context(), args[0])
				if err != nil {
					return fmt.Errorf("status %s: %w", args[0], err)
				}
				if wait == 0 || rec.State != ledger.Queued && rec.State != ledger.Sending || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			rec.To = mask.Phone(rec.To)
			if e.jsonOut {
				return e.printJSON(rec)
			}
			printRecord(e, rec)
			return nil
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the message to leave queued/sending")
	return cmd
}

func printRecord(e *env, r ledger.Record) {
	pid := r.ProviderID
	if pid == "" && (r.State == ledger.Submitted || r.State == ledger.Delivered) {
		pid = r.ID + " (provider returns no id; smsq's id is used)"
	}
	rows := [][2]string{
		{"id", r.ID}, {"state", string(r.State)}, {"provider", r.Provider}, {"to", r.To},
		{"provider id", pid}, {"attempts", fmt.Sprint(r.Attempts)}, {"last error", r.LastError},
		{"created", r.CreatedAt.Format(time.RFC3339)}, {"updated", r.UpdatedAt.Format(time.RFC3339)},
	}
	for _, row := range rows {
		if row[1] != "" {
			fmt.Fprintf(e.stdout, "%-12s %s\n", row[0]+":", row[1])
		}
	}
	if len(r.History) > 0 {
		fmt.Fprintln(e.stdout, "history:")
		for _, h := range r.History {
			line := fmt.Sprintf("  %s  %-10s %s", h.At.Format("2006-01-02 15:04:05.000"), h.State, h.Source)
			if h.Note != "" {
				line += "  " + h.Note
			}
			fmt.Fprintln(e.stdout, strings.TrimRight(line, " "))
		}
	}
}
