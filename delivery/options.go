package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/throttle"
)

// DefaultExpiry is how long a submitted message may wait for a final report.
const DefaultExpiry = 72 * time.Hour

// Schedule is the back-off between delivery polls: the n-th poll after a
// submission (n from 0) waits Steps[n], and every poll after the steps waits
// Every. A zero Schedule is DefaultSchedule.
type Schedule struct {
	// Steps are the first waits, in order. Default: 30s, 2m, 10m, 1h.
	Steps []time.Duration `koanf:"steps"`
	// Every is the wait once Steps are used up. Default: 4h.
	Every time.Duration `koanf:"every"`
}

// DefaultSchedule is the poll back-off used when none is configured.
func DefaultSchedule() Schedule {
	return Schedule{Steps: []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour}, Every: 4 * time.Hour}
}

func (s Schedule) withDefaults() Schedule {
	d := DefaultSchedule()
	if len(s.Steps) == 0 {
		s.Steps = d.Steps
	}
	if s.Every == 0 {
		s.Every = d.Every
	}
	return s
}

// Validate reports every wait that is not positive, naming it as
// "delivery.poll.steps[i]" or "delivery.poll.every".
func (s Schedule) Validate() error {
	var errs []error
	for i, d := range s.Steps {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("delivery.poll.steps[%d]: must be positive", i))
		}
	}
	if s.Every < 0 {
		errs = append(errs, errors.New("delivery.poll.every: must be positive"))
	}
	return errors.Join(errs...)
}

// Delay is the wait before poll n (0 is the first, after the submission).
func (s Schedule) Delay(n int) time.Duration {
	s = s.withDefaults()
	if n >= 0 && n < len(s.Steps) {
		return s.Steps[n]
	}
	return s.Every
}

// Guard admits provider calls; *throttle.Guard implements it.
type Guard interface {
	Do(ctx context.Context, c throttle.Call, fn func(context.Context) error) error
}

// Enqueuer schedules tasks; *asynq.Client implements it.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// TaskDeleter removes a task that has not started; *asynq.Inspector
// implements it.
type TaskDeleter interface {
	DeleteTask(queue, id string) error
}

// Campaigns settles reports for messages the ledger does not hold: campaign
// recipients, which live in the campaign store. Settle returns false when
// the provider's id is not one of its messages.
type Campaigns interface {
	Settle(ctx context.Context, provider string, rep providers.DeliveryReport, src ledger.Source) (bool, error)
}

// Metrics counts delivery reports; *metrics.Metrics implements it. source
// is ledger.SourceCallback or ledger.SourcePoll, state "delivered",
// "failed" or "expired".
type Metrics interface {
	DeliveryReport(provider, source, state string)
}

// Options configure a Service.
type Options struct {
	// Ledger records every state change. Required.
	Ledger *ledger.Ledger `koanf:"-"`
	// Redis holds the pending-poll and kept-report keys; the same Redis as
	// the ledger and the queue. Required.
	Redis redis.UniversalClient `koanf:"-"`
	// Queue schedules poll tasks. Required.
	Queue Enqueuer `koanf:"-"`
	// Tasks deletes a pending poll when a push report makes it useless.
	// Required.
	Tasks TaskDeleter `koanf:"-"`
	// Pollers are the providers with a status endpoint, by name. Default
	// nil: no polls, push reports only.
	Pollers map[string]providers.StatusPoller `koanf:"-"`
	// Guard admits every poll (lane Bulk). Required when Pollers is not
	// empty.
	Guard Guard `koanf:"-"`
	// Campaigns settles reports for campaign recipients. Default nil:
	// reports for ids the ledger lacks are kept until Expiry.
	Campaigns Campaigns `koanf:"-"`
	// Metrics counts every final report received (push or poll) and every
	// expiry. Default nil: not counted.
	Metrics Metrics `koanf:"-"`
	// Schedule is the poll back-off. Default: DefaultSchedule.
	Schedule Schedule `koanf:"poll"`
	// Expiry is how long after submission a message without a final
	// report becomes expired; kept early reports live as long. Default 72h.
	Expiry time.Duration `koanf:"expiry"`
	// Prefix of every key; the ledger's prefix. Default "smsq:".
	Prefix string `koanf:"prefix"`
	// Now is the clock. Default time.Now.
	Now func() time.Time `koanf:"-"`
	// Log receives one line per settled report and every failure. Default:
	// disabled.
	Log zerolog.Logger `koanf:"-"`
}

// Validate reports every missing collaborator and bad setting.
func (o Options) Validate() error {
	var errs []error
	need := func(ok bool, field string) {
		if !ok {
			errs = append(errs, errors.New("delivery: "+field+": required"))
		}
	}
	need(o.Ledger != nil, "Ledger")
	need(o.Redis != nil, "Redis")
	need(o.Queue != nil, "Queue")
	need(o.Tasks != nil, "Tasks")
	need(len(o.Pollers) == 0 || o.Guard != nil, "Guard")
	if o.Expiry < 0 {
		errs = append(errs, errors.New("delivery.expiry: must be positive"))
	}
	errs = append(errs, o.Schedule.Validate())
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	o.Schedule = o.Schedule.withDefaults()
	if o.Expiry == 0 {
		o.Expiry = DefaultExpiry
	}
	if o.Prefix == "" {
		o.Prefix = "smsq:"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// MinSecretLen is the shortest callback secret ValidateSecret accepts: the
// secret is all that stands between the internet and the ledger.
const MinSecretLen = 16

// ValidateSecret checks a callback secret (delivery.callback_secret): empty
// (callbacks refused), or at least MinSecretLen URL-safe characters, since
// it is one segment of a URL path.
func ValidateSecret(s string) error {
	if s == "" {
		return nil
	}
	if len(s) < MinSecretLen {
		return fmt.Errorf("delivery.callback_secret: use at least %d characters", MinSecretLen)
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '~')
	}) >= 0 {
		return errors.New("delivery.callback_secret: use only letters, digits and - _ . ~")
	}
	return nil
}
