package campaign

import (
	"errors"
	"fmt"
)

// State is where a campaign is in its life.
type State string

const (
	// Importing: the recipients are being written; invisible to the
	// scheduler and to List.
	Importing State = "importing"
	// Scheduled: created, no block enqueued yet.
	Scheduled State = "scheduled"
	// Running: blocks are being enqueued and sent.
	Running State = "running"
	// Paused: no batch or block starts until resumed; pending recipients
	// stay pending.
	Paused State = "paused"
	// Cancelled: stopped for good; what was submitted stays submitted.
	Cancelled State = "cancelled"
	// Done: every block is complete.
	Done State = "done"
)

// Final reports whether nothing can follow s.
func (s State) Final() bool { return s == Cancelled || s == Done }

// active reports whether blocks may be enqueued and sent in s.
func (s State) active() bool { return s == Scheduled || s == Running }

// RecipientState is one recipient's fate, stored as one byte.
type RecipientState byte

// Recipient states. Pending is 0 so that the freshly written state string
// (zero bytes) means "nothing sent yet".
const (
	Pending    RecipientState = iota // waiting for its block
	Sending                          // a worker is calling the provider with it
	Submitted                        // the provider accepted it; awaiting its delivery report
	Failed                           // retries exhausted, or the provider reported it failed
	Rejected                         // permanent provider refusal
	Suppressed                       // on the suppression list: never sent
	Unknown                          // a worker stopped mid-call; will be sent again
	Delivered                        // the provider reported it delivered
	Expired                          // no final delivery report within delivery.expiry
	numRecipientStates
)

var recipientStateNames = [numRecipientStates]string{
	"pending", "sending", "submitted", "failed", "rejected", "suppressed", "unknown", "delivered", "expired",
}

func (s RecipientState) String() string {
	if s < numRecipientStates {
		return recipientStateNames[s]
	}
	return fmt.Sprintf("state(%d)", byte(s))
}

// RecipientStates lists every recipient state in lifecycle order.
func RecipientStates() []RecipientState {
	out := make([]RecipientState, numRecipientStates)
	for i := range out {
		out[i] = RecipientState(i)
	}
	return out
}

// counterField is the meta hash field counting recipients in s.
func counterField(s RecipientState) string { return "n:" + s.String() }

// Errors matched with errors.Is.
var (
	// ErrNotFound: no campaign has that id.
	ErrNotFound = errors.New("campaign not found")
	// ErrExists: a campaign with that id already exists.
	ErrExists = errors.New("campaign already exists")
	// ErrState: the operation does not apply in the campaign's state.
	ErrState = errors.New("not possible in the campaign's state")
	// ErrOutsideWindow is the cause of a snooze until the next allowed
	// instant of the campaign's pacing.
	ErrOutsideWindow = errors.New("outside the campaign's sending window")
	// ErrNotYet is the cause of a snooze of a block that ran before its
	// start (asynq schedules in whole seconds).
	ErrNotYet = errors.New("block start not reached")
	// ErrBusy is the cause of a snooze while another worker runs a block
	// of the same campaign.
	ErrBusy = errors.New("another worker is sending this campaign")
)

// FieldError names the bad field of a campaign definition: name, id,
// provider, message, from, phone_column, or a pacing field.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e *FieldError) Error() string { return "campaign." + e.Field + ": " + e.Reason }
