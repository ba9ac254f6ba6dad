package tasks

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/smsq/smsq/callbackurl"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sms"
	"github.com/smsq/smsq/suppress"
)

// SendRequest is what a producer asks for: one message to one destination.
type SendRequest struct {
	// ID is the caller's idempotency key. Empty: smsq generates one. The
	// same ID sent twice yields one message.
	ID       string `json:"id,omitempty"`
	Provider string `json:"provider"`
	// To is a phone number (E.164, or national with a default region); for
	// Kaizala, the group id.
	To   string `json:"to"`
	From string `json:"from,omitempty"`
	Text string `json:"text"`
	// Subscribers and AllSubscribers narrow a Kaizala group send.
	Subscribers    []string `json:"subscribers,omitempty"`
	AllSubscribers bool     `json:"all_subscribers,omitempty"`
	// SendAt delays the send; zero sends now.
	SendAt time.Time `json:"send_at,omitzero"`
	// Bulk puts the message on the bulk queue, behind transactional traffic.
	Bulk bool `json:"bulk,omitempty"`
	// CallbackURL receives this message's status changes. Its host must
	// be public unless Rules.AllowPrivateCallbacks (see callbackurl.Check).
	CallbackURL string `json:"callback_url,omitempty"`
	// Producer names who sends it (the HTTP API puts its key's name here)
	// and is recorded on the message for access checks. Never read from
	// or written as JSON. Default "": no owner (the CLI, Go producers).
	Producer string `json:"-"`
}

// Rules are the acceptance rules a Client applies before queueing.
type Rules struct {
	// Providers lists the enabled providers. Required.
	Providers []string
	// MaxSegments caps the SMS segments of one message. Zero: 10.
	MaxSegments int
	// DefaultRegion allows national-format numbers (ISO code, e.g. "CD").
	DefaultRegion string
	// AllowPrivateCallbacks accepts callback URLs on loopback, private and
	// other internal addresses (local development, tests). Default false:
	// they are refused (api.allow_private_callbacks).
	AllowPrivateCallbacks bool
}

// FieldError says which field of a request is wrong and why.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// ErrInvalid is matched (errors.Is) by every validation error.
var ErrInvalid = errors.New("invalid request")

// Is makes FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,128}$`)

// maxKaizalaChars is Kaizala's documented message limit.
const maxKaizalaChars = 4000

// Normalize validates r against the rules and returns it in canonical form
// (E.164 numbers, trimmed text). Errors are *FieldError.
func (ru Rules) Normalize(r SendRequest) (SendRequest, error) {
	if r.ID != "" && !idPattern.MatchString(r.ID) {
		return r, &FieldError{"id", "use 1–128 letters, digits or . _ : @ -"}
	}
	r.Provider = strings.ToLower(strings.TrimSpace(r.Provider))
	if r.Provider == "" {
		return r, &FieldError{"provider", "required (one of " + strings.Join(ru.Providers, ", ") + ")"}
	}
	known := false
	for _, p := range ru.Providers {
		known = known || p == r.Provider
	}
	if !known {
		return r, &FieldError{"provider", fmt.Sprintf("unknown or disabled provider %q (enabled: %s)", r.Provider, strings.Join(ru.Providers, ", "))}
	}
	if strings.TrimSpace(r.Text) == "" {
		return r, &FieldError{"text", "must not be empty"}
	}
	if r.Provider == "kaizala" {
		r.To = strings.TrimSpace(r.To)
		if r.To == "" {
			return r, &FieldError{"to", "a Kaizala group id is required"}
		}
		if n := utf8.RuneCountInString(r.Text); n > maxKaizalaChars {
			return r, &FieldError{"text", fmt.Sprintf("%d characters, Kaizala allows at most %d", n, maxKaizalaChars)}
		}
		for i, s := range r.Subscribers {
			n, err := sms.NormalizeNumber(s, ru.DefaultRegion)
			if err != nil {
				return r, &FieldError{fmt.Sprintf("subscribers[%d]", i), reason(err)}
			}
			r.Subscribers[i] = n
		}
	} else {
		if len(r.Subscribers) > 0 || r.AllSubscribers {
			return r, &FieldError{"subscribers", "only Kaizala group sends take subscribers"}
		}
		n, err := sms.NormalizeNumber(r.To, ru.DefaultRegion)
		if err != nil {
			return r, &FieldError{"to", reason(err)}
		}
		r.To = n
		max := ru.MaxSegments
		if max == 0 {
			max = 10
		}
		if _, err := sms.ValidateText(r.Text, max); err != nil {
			return r, &FieldError{"text", reason(err)}
		}
	}
	if err := sms.ValidateSender(r.From); err != nil {
		return r, &FieldError{"from", reason(err)}
	}
	if r.CallbackURL != "" {
		if err := callbackurl.Check(r.CallbackURL, ru.AllowPrivateCallbacks); err != nil {
			return r, &FieldError{"callback_url", err.Error()}
		}
	}
	return r, nil
}

// reason drops a field prefix the sms package may already have put in.
func reason(err error) string {
	var fe *sms.FieldError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return err.Error()
}

// Accepted is the answer to a send: the message as recorded, and whether
// it already existed (an idempotent repeat).
type Accepted struct {
	Message   ledger.Record `json:"message"`
	Duplicate bool          `json:"duplicate"`
}

// Client is the Go producer API: it validates, records and enqueues.
type Client struct {
	q     *asynq.Client
	l     *ledger.Ledger
	sup   *suppress.List
	rules Rules
}

// NewClient returns a producer on the given Redis. rdb and conn must point
// at the same Redis.
func NewClient(conn asynq.RedisConnOpt, rdb redis.UniversalClient, rules Rules, lo ledger.Options) *Client {
	sort.Strings(rules.Providers)
	return &Client{q: asynq.NewClient(conn), l: ledger.New(rdb, lo), sup: suppress.New(rdb, lo.Prefix), rules: rules}
}

// Close releases the queue connection.
func (c *Client) Close() error { return c.q.Close() }

// Ledger returns the ledger the client records into.
func (c *Client) Ledger() *ledger.Ledger { return c.l }

// Send validates r and, unless a message with its ID exists, records it
// and queues it. Nothing is queued when validation fails.
func (c *Client) Send(ctx context.Context, r SendRequest) (Accepted, error) {
	r, err := c.rules.Normalize(r)
	if err != nil {
		return Accepted{}, err
	}
	if r.ID == "" {
		r.ID = NewID()
	}
	if rec, err := c.l.Get(ctx, r.ID); err == nil {
		return Accepted{Message: rec, Duplicate: true}, nil
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return Accepted{}, err
	}
	seg := 0
	if r.Provider != "kaizala" {
		seg = sms.Segments(r.Text).Segments
	}
	rec := ledger.Record{ID: r.ID, Provider: r.Provider, To: r.To, From: r.From, Text: r.Text, Segments: seg,
		CallbackURL: r.CallbackURL, Producer: r.Producer}
	if r.Provider != "kaizala" {
		sup, err := c.sup.Contains(ctx, r.To)
		if err != nil {
			return Accepted{}, err
		}
		if sup {
			rec.State = ledger.Suppressed
			rec.LastError = "destination is on the suppression list"
			got, created, err := c.l.Create(ctx, rec, ledger.SourceProducer)
			return Accepted{Message: got, Duplicate: !created}, err
		}
	}
	// The task goes first: if we die before the ledger write, the worker
	// rebuilds the record from the payload, so nothing accepted is lost.
	t, err := NewSendTask(SendPayload{ID: r.ID, Provider: r.Provider, To: r.To, From: r.From, Text: r.Text,
		Subscribers: r.Subscribers, AllSubscribers: r.AllSubscribers, Bulk: r.Bulk, CallbackURL: r.CallbackURL, SendAt: r.SendAt,
		Producer: r.Producer})
	if err != nil {
		return Accepted{}, err
	}
	_, err = c.q.EnqueueContext(ctx, t)
	dup := errors.Is(err, asynq.ErrTaskIDConflict)
	if err != nil && !dup {
		return Accepted{}, fmt.Errorf("enqueue: %w", err)
	}
	// The record may already exist without this being a repeat: a fast
	// worker rebuilds it from the payload when it gets there first (without
	// a producer: Create then records ours). Only an id conflict on enqueue
	// means someone else sent this id: the queued task is theirs, so is the
	// record.
	if dup {
		rec.Producer = ""
	}
	got, _, err := c.l.Create(ctx, rec, ledger.SourceProducer)
	if err != nil {
		return Accepted{}, err
	}
	return Accepted{Message: got, Duplicate: dup}, nil
}

// Status returns the recorded state of a message.
func (c *Client) Status(ctx context.Context, id string) (ledger.Record, error) {
	return c.l.Get(ctx, id)
}

// NewID returns a fresh message id: a time-ordered UUID.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// Rules returns the acceptance rules the client applies.
func (c *Client) Rules() Rules { return c.rules }
