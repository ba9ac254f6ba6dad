package events

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/ledger"
)

// DefaultGroup is the consumer group the relays share.
const DefaultGroup = "smsq-callbacks"

// Enqueuer puts tasks on the queue; *asynq.Client implements it.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// RelayOptions configure a Relay.
type RelayOptions struct {
	// Redis holds the event stream. Required.
	Redis redis.UniversalClient
	// Enqueuer receives the status:event tasks. Required.
	Enqueuer Enqueuer
	// Prefix is the ledger's key prefix. Default "": "smsq:".
	Prefix string
	// Group is the consumer group. Default DefaultGroup. Created at the
	// start of the stream, so the first relay also handles events written
	// before it ever ran.
	Group string
	// Consumer names this relay in the group. Default: host, pid and a
	// random suffix, so a restarted process is a new consumer.
	Consumer string
	// Batch is how many entries one read or claim takes. Default 100.
	Batch int64
	// Block is how long one read waits for new entries; it also bounds how
	// long Run takes to notice ctx is done. Default 1s.
	Block time.Duration
	// ClaimAfter is how long an entry may stay read but unacknowledged (its
	// reader died, or could not enqueue) before another relay takes it
	// over. Default 1m.
	ClaimAfter time.Duration
	// ClaimEvery is how often stale entries are looked for. Default
	// ClaimAfter/4.
	ClaimEvery time.Duration
	// ForgetAfter removes consumers idle this long with nothing pending
	// from the group (each restart adds one). Default 24h.
	ForgetAfter time.Duration
	// Parallel is how many tasks one relay enqueues at once. Default 8.
	Parallel int
	// Task shapes the enqueued tasks.
	Task TaskOptions
	// Log gets failures; it never sees a phone number (events carry none).
	Log zerolog.Logger
}

// Relay moves status events with a callback URL from the ledger's stream
// to the events queue. Any number of relays may run: the consumer group
// gives each entry to one of them, and entries a dead relay had read are
// claimed by another after ClaimAfter.
type Relay struct {
	o      RelayOptions
	stream string
}

// NewRelay checks o and returns a Relay.
func NewRelay(o RelayOptions) (*Relay, error) {
	if o.Redis == nil {
		return nil, errors.New("events: relay needs Redis")
	}
	if o.Enqueuer == nil {
		return nil, errors.New("events: relay needs an Enqueuer")
	}
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if o.Consumer == "" {
		o.Consumer = consumerName()
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Block <= 0 {
		o.Block = time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.ClaimAfter <= 0 {
		o.ClaimAfter = time.Minute
	}
	if o.ClaimEvery <= 0 {
		o.ClaimEvery = o.ClaimAfter / 4
	}
	if o.ForgetAfter <= 0 {
		o.ForgetAfter = 24 * time.Hour
	}
	return &Relay{o: o, stream: ledger.EventsKey(o.Prefix)}, nil
}

func consumerName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Consumer is this relay's name in the group.
func (r *Relay) Consumer() string { return r.o.Consumer }

// Run relays events until ctx is done. Redis errors are logged and
// retried; Run only returns when ctx is done.
func (r *Relay) Run(ctx context.Context) error {
	log := r.o.Log
	if err := r.ensureGroup(ctx); err != nil && ctx.Err() == nil {
		log.Warn().Err(err).Msg("creating the status-event consumer group failed; will retry")
	}
	var lastClaim time.Time
	pause := time.Duration(0)
	for ctx.Err() == nil {
		if pause > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(pause):
			}
		}
		if time.Since(lastClaim) >= r.o.ClaimEvery {
			if err := r.Claim(ctx); err != nil && ctx.Err() == nil {
				log.Warn().Err(err).Msg("claiming stale status events failed; will retry")
			}
			lastClaim = time.Now()
		}
		err := r.readOnce(ctx)
		switch {
		case err == nil:
			pause = 0
		case ctx.Err() != nil:
			return nil
		default:
			log.Warn().Err(err).Msg("reading status events failed; will retry")
			pause = min(max(2*pause, 100*time.Millisecond), 5*time.Second)
		}
	}
	return nil
}

// ensureGroup creates the consumer group (and the stream) if missing.
func (r *Relay) ensureGroup(ctx context.Context) error {
	err := r.o.Redis.XGroupCreateMkStream(ctx, r.stream, r.o.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("events: create group %s: %w", r.o.Group, err)
	}
	return nil
}

// readOnce reads and relays at most one batch of new entries.
func (r *Relay) readOnce(ctx context.Context) error {
	res, err := r.o.Redis.XReadGroup(ctx, &redis.XReadGroupArgs{Group: r.o.Group, Consumer: r.o.Consumer,
		Streams: []string{r.stream, ">"}, Count: r.o.Batch, Block: r.o.Block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
		// First run, or the stream was deleted: (re)create and read again.
		return r.ensureGroup(ctx)
	}
	if err != nil {
		return fmt.Errorf("events: read: %w", err)
	}
	for _, s := range res {
		if err := r.relay(ctx, s.Messages); err != nil {
			return err
		}
	}
	return nil
}

// Claim takes over entries other relays read but did not acknowledge
// within ClaimAfter, relays them, and forgets long-idle consumers. Run
// calls it every ClaimEvery.
func (r *Relay) Claim(ctx context.Context) error {
	start := "0-0"
	for {
		msgs, next, deleted, err := r.o.Redis.XAutoClaimWithDeleted(ctx, &redis.XAutoClaimArgs{Stream: r.stream, Group: r.o.Group,
			Consumer: r.o.Consumer, MinIdle: r.o.ClaimAfter, Start: start, Count: r.o.Batch}).Result()
		if err != nil {
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				return r.ensureGroup(ctx)
			}
			return fmt.Errorf("events: claim: %w", err)
		}
		if len(deleted) > 0 {
			// Trimmed from the stream (events.max_len) before anyone
			// relayed them: say so, since their callbacks are lost.
			r.o.Log.Error().Int("count", len(deleted)).Strs("event_ids", deleted).
				Msg("status events were trimmed from the stream before their callbacks were queued")
		}
		if len(msgs) > 0 {
			r.o.Log.Info().Int("count", len(msgs)).Msg("took over status events a stopped relay had read")
			if err := r.relay(ctx, msgs); err != nil {
				return err
			}
		}
		if next == "0-0" || next == "" {
			break
		}
		start = next
	}
	return r.forget(ctx)
}

// forget removes idle consumers that hold nothing.
func (r *Relay) forget(ctx context.Context) error {
	cs, err := r.o.Redis.XInfoConsumers(ctx, r.stream, r.o.Group).Result()
	if err != nil {
		return fmt.Errorf("events: list consumers: %w", err)
	}
	for _, c := range cs {
		if c.Name != r.o.Consumer && c.Pending == 0 && c.Idle >= r.o.ForgetAfter {
			if err := r.o.Redis.XGroupDelConsumer(ctx, r.stream, r.o.Group, c.Name).Err(); err != nil {
				return fmt.Errorf("events: forget consumer: %w", err)
			}
		}
	}
	return nil
}

// relay enqueues a task for each entry with a callback URL (several at
// once), then acknowledges what it handled. Entries it could not enqueue
// stay pending and are claimed again after ClaimAfter.
func (r *Relay) relay(ctx context.Context, msgs []redis.XMessage) error {
	var (
		mu     sync.Mutex
		done   = make([]string, 0, len(msgs))
		failed error
		wg     sync.WaitGroup
		sem    = make(chan struct{}, r.o.Parallel)
	)
	handled := func(id string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed = cmp.Or(failed, err)
			return
		}
		done = append(done, id)
	}
	for _, m := range msgs {
		ev, url, err := fromStream(m.ID, m.Values)
		if err != nil {
			r.o.Log.Error().Str("event_id", m.ID).Msg("skipping a status event without message id or state")
			handled(m.ID, nil)
			continue
		}
		if url == "" {
			handled(m.ID, nil)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			t, err := NewTask(Payload{URL: url, Event: ev}, r.o.Task)
			if err == nil {
				_, err = r.o.Enqueuer.EnqueueContext(ctx, t)
			}
			if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
				handled(m.ID, fmt.Errorf("events: enqueue callback for event %s: %w", m.ID, err))
				return
			}
			handled(m.ID, nil)
		}()
	}
	wg.Wait()
	if len(done) > 0 {
		// Acknowledge even when ctx is done: the tasks are queued already.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := r.o.Redis.XAck(actx, r.stream, r.o.Group, done...).Err()
		cancel()
		if err != nil {
			return errors.Join(failed, fmt.Errorf("events: ack: %w", err))
		}
	}
	return failed
}
