// Package tasks is smsq's wire format on the queue: task type names, queue
// names, typed payloads and their constructors. Type names are stable
// strings, independent of Go type names, and none is a prefix of another
// (asynq's ServeMux routes by prefix).
package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Task type names.
const (
	TypeSend  = "message:send"
	TypeBlock = "campaign:block"
	TypePoll  = "delivery:poll"
	TypeEvent = "status:event"
)

// Queue names. Transactional traffic (single sends) is served before bulk
// (campaign blocks and bulk files) by weight, so a one-time password never
// waits behind a campaign.
const (
	QueueTransactional = "transactional"
	QueueBulk          = "bulk"
	QueueDelivery      = "delivery"
	QueueEvents        = "events"
)

// QueueWeights are the default asynq queue priorities.
func QueueWeights() map[string]int {
	return map[string]int{QueueTransactional: 12, QueueBulk: 4, QueueDelivery: 3, QueueEvents: 1}
}

// maxRetry is asynq's retry ceiling for smsq tasks. It is deliberately
// high: asynq checks Retried >= MaxRetry before Config.IsFailure, so a low
// value would archive a task that is merely rate-limited. smsq keeps the real
// retry budget in the ledger (attempts vs send.max_attempts).
const maxRetry = 1000

// SendPayload is one message to send. It carries everything the worker
// needs, so a worker can rebuild the ledger record if the producer died
// between enqueueing and recording.
type SendPayload struct {
	ID             string    `json:"id"`
	Provider       string    `json:"provider"`
	To             string    `json:"to"`
	From           string    `json:"from,omitempty"`
	Text           string    `json:"text"`
	Subscribers    []string  `json:"subscribers,omitempty"`
	AllSubscribers bool      `json:"all_subscribers,omitempty"`
	Bulk           bool      `json:"bulk,omitempty"`
	CallbackURL    string    `json:"callback_url,omitempty"`
	SendAt         time.Time `json:"send_at,omitzero"`
	// Producer is the API key's name for messages sent through the HTTP
	// API, so that a worker rebuilding the record keeps its owner.
	Producer string `json:"producer,omitempty"`
}

// NewSendTask builds the task for p. Its TaskID is the message id, so an
// identical enqueue while it is queued is refused by asynq.
func NewSendTask(p SendPayload) (*asynq.Task, error) {
	if p.ID == "" || p.Provider == "" || p.To == "" {
		return nil, errors.New("tasks: send payload needs id, provider and to")
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	q := QueueTransactional
	if p.Bulk {
		q = QueueBulk
	}
	opts := []asynq.Option{asynq.TaskID(p.ID), asynq.Queue(q), asynq.MaxRetry(maxRetry), asynq.Timeout(2 * time.Minute)}
	if !p.SendAt.IsZero() {
		opts = append(opts, asynq.ProcessAt(p.SendAt))
	}
	return asynq.NewTask(TypeSend, b, opts...), nil
}

// BlockPayload names one block of a campaign. Recipients live in Redis.
type BlockPayload struct {
	Campaign string `json:"campaign"`
	Block    int    `json:"block"`
}

// BlockTaskID is the deterministic id of a block task: two schedulers, or a
// restarted one, can never enqueue the same block twice.
func BlockTaskID(campaign string, block int) string {
	return fmt.Sprintf("%s:%d", campaign, block)
}

// NewBlockTask builds the task for one campaign block, to run at at.
func NewBlockTask(p BlockPayload, at time.Time) (*asynq.Task, error) {
	if p.Campaign == "" || p.Block < 0 {
		return nil, errors.New("tasks: block payload needs campaign and block >= 0")
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeBlock, b, asynq.TaskID(BlockTaskID(p.Campaign, p.Block)), asynq.Queue(QueueBulk),
		asynq.MaxRetry(maxRetry), asynq.ProcessAt(at), asynq.Timeout(30*time.Minute)), nil
}

// PollPayload asks for the delivery status of one submitted message.
type PollPayload struct {
	ID         string `json:"id"`
	Provider   string `json:"provider"`
	ProviderID string `json:"provider_id"`
	// Attempt counts polls so far; it picks the next back-off step.
	Attempt int `json:"attempt"`
}

// PollTaskID is the deterministic id of the n-th poll for a message.
func PollTaskID(id string, attempt int) string { return fmt.Sprintf("poll:%s:%d", id, attempt) }

// NewPollTask builds a delivery poll to run at at.
func NewPollTask(p PollPayload, at time.Time) (*asynq.Task, error) {
	if p.ID == "" || p.Provider == "" || p.ProviderID == "" {
		return nil, errors.New("tasks: poll payload needs id, provider and provider_id")
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypePoll, b, asynq.TaskID(PollTaskID(p.ID, p.Attempt)), asynq.Queue(QueueDelivery),
		asynq.MaxRetry(maxRetry), asynq.ProcessAt(at), asynq.Timeout(time.Minute)), nil
}

// Decode reads a task payload into v. A payload that cannot be decoded is
// wrapped in asynq.SkipRetry: retrying cannot fix it.
func Decode(t *asynq.Task, v any) error {
	if err := json.Unmarshal(t.Payload(), v); err != nil {
		return fmt.Errorf("tasks: undecodable %s payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	return nil
}
