package events_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/events"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/tasks"
)

// BenchmarkRelay measures stream entries with a callback URL turned into
// queued status:event tasks per second, against a real Redis.
func BenchmarkRelay(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client()
	client := asynq.NewClient(srv.AsynqOpt())
	insp := asynq.NewInspector(srv.AsynqOpt())
	b.Cleanup(func() { _ = client.Close(); _ = insp.Close() })
	ctx := context.Background()
	stream := ledger.EventsKey("")
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range b.N {
			p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"id", "m-" + strconv.Itoa(i), "state", "submitted",
				"from", "sending", "source", "worker", "at", "1780000000000", "provider", "keccel", "pid", "42", "cb", "http://producer.example/cb"}})
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	r, err := events.NewRelay(events.RelayOptions{Redis: rdb, Enqueuer: client, Block: 10 * time.Millisecond, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	for {
		qi, err := insp.GetQueueInfo(tasks.QueueEvents)
		if err == nil && qi.Pending >= b.N {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
