// Package ledger records every accepted message's fate in Redis: one small
// hash per message, a state machine whose transitions are enforced in Redis
// itself (so two workers, a poll and a callback can race safely), an index
// from provider message ids back to smsq ids, and a history of every
// transition with its time and source.
package ledger

import (
	"fmt"
	"sort"
)

// State is where a message is in its life.
type State string

const (
	Queued     State = "queued"     // accepted, waiting for a worker (also between retries)
	Sending    State = "sending"    // a worker is calling the provider
	Submitted  State = "submitted"  // the provider accepted it (ProviderID set when it gives one)
	Delivered  State = "delivered"  // final: the provider confirmed delivery
	Failed     State = "failed"     // final: retries exhausted, or the provider reported failure
	Expired    State = "expired"    // final: no final report before the delivery deadline
	Rejected   State = "rejected"   // final: bad input or a permanent provider refusal
	Suppressed State = "suppressed" // final: the destination opted out; never sent
	// Unknown: a worker died while calling the provider, so it may or may
	// not have been sent. The message is sent again; the history keeps the
	// mark so a possible duplicate can be accounted for.
	Unknown State = "unknown"
)

// States lists every state.
var states = []State{Queued, Sending, Submitted, Delivered, Failed, Expired, Rejected, Suppressed, Unknown}

// States returns every state, in lifecycle order.
func States() []State { return append([]State(nil), states...) }

// Final reports whether nothing can follow s.
func (s State) Final() bool {
	switch s {
	case Delivered, Failed, Expired, Rejected, Suppressed:
		return true
	}
	return false
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

// allowed is the state machine: from -> the states it may move to.
// Same-state moves are allowed for non-final states (they update fields,
// e.g. a retry's last error).
var allowed = map[State][]State{
	Queued:    {Queued, Sending, Submitted, Failed, Rejected, Suppressed, Expired},
	Sending:   {Sending, Queued, Submitted, Failed, Rejected, Unknown},
	Unknown:   {Unknown, Sending, Queued, Submitted, Delivered, Failed, Expired, Rejected},
	Submitted: {Submitted, Delivered, Failed, Expired},
}

// CanTransition reports whether a message in from may move to to.
func CanTransition(from, to State) bool {
	for _, s := range allowed[from] {
		if s == to {
			return true
		}
	}
	return false
}

// sourcesOf lists the states from which to may be reached.
func sourcesOf(to State) []string {
	var out []string
	for from, tos := range allowed {
		for _, s := range tos {
			if s == to {
				out = append(out, string(from))
			}
		}
	}
	sort.Strings(out)
	return out
}

// TransitionError says a transition was refused by the state machine.
type TransitionError struct {
	ID       string
	From, To State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("ledger: message %s cannot move from %s to %s", e.ID, e.From, e.To)
}

// Source says who caused a transition.
type Source string

const (
	SourceProducer Source = "producer"
	SourceWorker   Source = "worker"
	SourcePoll     Source = "poll"
	SourceCallback Source = "callback"
	SourceOperator Source = "operator"
)
