package app

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/mask"
	"github.com/smsq/smsq/sandbox/kaizala"
	"github.com/smsq/smsq/tasks"
)

// demoMessages is one message per provider, to sandbox destinations.
func demoMessages() []tasks.SendRequest {
	return []tasks.SendRequest{
		{Provider: "keccel", To: "+243812345678", Text: "smsq demo via Keccel"},
		{Provider: "sakari", To: "+14155552671", Text: "smsq demo via Sakari"},
		{Provider: "conectaline", To: "+34600100100", Text: "smsq demo via Conectaline"},
		{Provider: "kandy", To: "+14155552672", Text: "smsq demo via Kandy"},
		{Provider: "kaizala", To: kaizala.DefaultGroup, Text: "smsq demo via Kaizala"},
	}
}

// runDemo queues demoMessages and logs each one's state once it settles.
func runDemo(ctx context.Context, cfg config.Config, conn *Conn, log zerolog.Logger) {
	c := tasks.NewClient(conn.Asynq, conn.Redis, Rules(cfg), LedgerOptions(cfg))
	defer c.Close()
	var ids []string
	for _, m := range demoMessages() {
		acc, err := c.Send(ctx, m)
		if err != nil {
			log.Error().Err(err).Str("provider", m.Provider).Msg("demo: could not queue")
			continue
		}
		ids = append(ids, acc.Message.ID)
		log.Info().Str("message_id", acc.Message.ID).Str("provider", m.Provider).Msg("demo: queued")
	}
	deadline := time.Now().Add(30 * time.Second)
	pending := map[string]bool{}
	for _, id := range ids {
		pending[id] = true
	}
	for len(pending) > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		for id := range pending {
			rec, err := c.Status(ctx, id)
			if err != nil || rec.State == ledger.Queued || rec.State == ledger.Sending {
				continue
			}
			delete(pending, id)
			log.Info().Str("message_id", id).Str("provider", rec.Provider).Str("to", mask.Phone(rec.To)).
				Str("state", string(rec.State)).Str("provider_message_id", rec.ProviderID).Int("attempts", rec.Attempts).
				Msg("demo: message settled")
		}
	}
	log.Info().Msg("demo: done. In another terminal: go run ./cmd/enqueue send --provider keccel --to <number in E.164> --text hello")
}
