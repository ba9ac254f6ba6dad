// Package events tells producers what happens to their messages.
//
// The ledger appends one entry per state change to the Redis stream
// ledger.EventsKey(prefix) ("smsq:events"), in the same script as the
// change itself. Backends that prefer to read can consume that stream with
// their own consumer group. For the others, a Relay in every worker reads
// it with the consumer group "smsq-callbacks" and, for each event of a
// message that has a callback URL, enqueues a status:event task; a
// Notifier runs those tasks: it POSTs the event as JSON, signed with
// HMAC-SHA256 (see Sign and Verify), and asynq retries it with back-off
// until the receiver answers 2xx or the attempts run out (then the task is
// archived and the failure logged).
//
// Delivery is at least once and not ordered: receivers deduplicate by
// event_id and order by it (stream ids grow with time) or by "at".
package events

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/tasks"
)

// Event is one state change of one message, as a callback body carries it.
type Event struct {
	// EventID is the stream entry id: unique, and growing with time.
	EventID string `json:"event_id"`
	// ID is the message id (the producer's idempotency key, or smsq's).
	ID    string       `json:"id"`
	State ledger.State `json:"state"`
	// Previous is the state before; empty for the first event.
	Previous   ledger.State  `json:"previous_state,omitempty"`
	Source     ledger.Source `json:"source"`
	At         time.Time     `json:"at"`
	Provider   string        `json:"provider,omitempty"`
	ProviderID string        `json:"provider_id,omitempty"`
	// Error is the message's last error, when it has one.
	Error string `json:"error,omitempty"`
}

// Stream entry fields, as the ledger writes them.
const (
	fieldID       = "id"
	fieldState    = "state"
	fieldFrom     = "from"
	fieldSource   = "source"
	fieldAt       = "at" // unix milliseconds
	fieldProvider = "provider"
	fieldPID      = "pid"
	fieldCallback = "cb"
	fieldError    = "error"
)

// errMalformed marks a stream entry without a message id or state.
var errMalformed = errors.New("events: stream entry lacks id or state")

// fromStream decodes a stream entry into its event and callback URL.
func fromStream(entryID string, v map[string]any) (Event, string, error) {
	s := func(k string) string { x, _ := v[k].(string); return x }
	ev := Event{EventID: entryID, ID: s(fieldID), State: ledger.State(s(fieldState)),
		Previous: ledger.State(s(fieldFrom)), Source: ledger.Source(s(fieldSource)),
		Provider: s(fieldProvider), ProviderID: s(fieldPID), Error: s(fieldError)}
	if ev.ID == "" || ev.State == "" {
		return ev, "", errMalformed
	}
	if ms, err := strconv.ParseInt(s(fieldAt), 10, 64); err == nil {
		ev.At = time.UnixMilli(ms).UTC()
	}
	return ev, s(fieldCallback), nil
}

// Payload is a status:event task: one event for one URL.
type Payload struct {
	URL   string `json:"url"`
	Event Event  `json:"event"`
}

// TaskID is the status:event task id of a stream entry: an entry read
// twice (a relay died before acknowledging it) is enqueued once.
func TaskID(entryID string) string { return "evt:" + entryID }

// TaskOptions shape status:event tasks.
type TaskOptions struct {
	// Attempts is how many times the callback is tried. Zero: 10.
	Attempts int
	// Timeout bounds one attempt. Zero: 10s.
	Timeout time.Duration
	// Dedupe is how long a completed task keeps its id, so that an entry
	// re-read within it is not delivered again. Zero: 10 minutes.
	Dedupe time.Duration
}

// NewTask builds the status:event task for p, read from stream entry
// p.Event.EventID.
func NewTask(p Payload, o TaskOptions) (*asynq.Task, error) {
	if p.URL == "" || p.Event.EventID == "" || p.Event.ID == "" {
		return nil, errors.New("events: task needs url, event id and message id")
	}
	if o.Attempts <= 0 {
		o.Attempts = 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Dedupe <= 0 {
		o.Dedupe = 10 * time.Minute
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	// asynq counts retries, not attempts. Its time-out covers the request
	// plus reading the answer; give it some slack over the HTTP one.
	return asynq.NewTask(tasks.TypeEvent, b, asynq.TaskID(TaskID(p.Event.EventID)), asynq.Queue(tasks.QueueEvents),
		asynq.MaxRetry(o.Attempts-1), asynq.Timeout(o.Timeout+5*time.Second), asynq.Retention(o.Dedupe)), nil
}
