// Package providers defines the one small interface every SMS provider
// adapter implements, the optional capabilities an adapter may add, and the
// error classes every adapter maps its failures into.
//
// Adapters live in sub-packages (providers/keccel, providers/sakari, …). The
// worker only ever sees these interfaces; capabilities are discovered with a
// type assertion, e.g. `if p, ok := s.(providers.StatusPoller); ok { … }`.
package providers

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/smsq/smsq/providers/token"
)

// Message is one message to one destination, as the worker hands it to an
// adapter. Text is final: templates are rendered before this point.
type Message struct {
	// ID is smsq's own message id. Adapters may pass it to the provider as a
	// client reference where the protocol has room for one.
	ID string
	// To is the destination in E.164 with a leading "+". For Kaizala it is
	// the group id; Subscribers then optionally narrows the audience.
	To string
	// From is the sender name or number; empty means the adapter's default.
	From string
	Text string
	// Subscribers (Kaizala only) lists E.164 numbers of a public group's
	// subscribers to send to; empty means the whole group.
	Subscribers []string
	// AllSubscribers (Kaizala only) sends to every subscriber of a public group.
	AllSubscribers bool
}

// Result is what a provider said when it accepted a message.
type Result struct {
	// ProviderID is the provider's id for the message, used to correlate
	// delivery reports. Empty when the provider returns none (Kandy,
	// Conectaline): the ledger then uses smsq's own id.
	ProviderID string
	// Status is the provider's raw status word at submission, if any.
	Status string
}

// Sender is the interface every adapter implements.
type Sender interface {
	// Name is the provider's config name: "keccel", "sakari", …
	Name() string
	// Send submits one message. Errors are *Error values (match them with
	// errors.Is against ErrRetryable, ErrRateLimited, …).
	Send(ctx context.Context, m Message) (Result, error)
}

// BatchSender is implemented by providers with a many-recipients endpoint
// (Sakari, Conectaline). The caller never passes more than MaxBatch messages.
type BatchSender interface {
	Sender
	// MaxBatch is the most messages one SendBatch call may carry.
	MaxBatch() int
	// SendBatch submits up to MaxBatch messages in as few provider calls as
	// the protocol allows. A non-nil error means the whole call failed and no
	// message was accepted; otherwise results[i] tells the fate of ms[i].
	SendBatch(ctx context.Context, ms []Message) ([]BatchResult, error)
}

// BatchResult is the fate of one message of a batch. Err is nil when the
// provider accepted it, else an *Error (usually ErrInvalidRecipient).
type BatchResult struct {
	Result
	Err error
}

// DeliveryState is a provider delivery report folded into smsq's vocabulary.
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "pending"   // not final yet: ask again later
	DeliveryDelivered DeliveryState = "delivered" // final: handset confirmed
	DeliveryFailed    DeliveryState = "failed"    // final: will not be delivered
	DeliveryUnknown   DeliveryState = "unknown"   // provider does not know the id
)

// Final reports whether no later report can change the state.
func (s DeliveryState) Final() bool { return s == DeliveryDelivered || s == DeliveryFailed }

// DeliveryReport is one delivery status, from a poll or a callback.
type DeliveryReport struct {
	ProviderID string
	State      DeliveryState
	// Raw is the provider's own status word ("DELIVERED", "undelivered"…).
	Raw string
	// Reason is the provider's error code or description on failure.
	Reason string
}

// StatusPoller is implemented by providers with a delivery-status pull
// endpoint (Keccel delivery.asp, Sakari message fetch).
type StatusPoller interface {
	Status(ctx context.Context, providerID string) (DeliveryReport, error)
}

// Balance is an account's remaining credit.
type Balance struct {
	// Amount is the remaining credit in the provider's unit.
	Amount float64
	// Unit names what Amount counts ("credits", "USD"…), when known.
	Unit string
	// Status is the account status when the provider reports one.
	Status string
	// Expires is when the credit stops being usable; zero when unknown.
	Expires time.Time
}

// BalanceChecker is implemented by providers with a balance endpoint.
type BalanceChecker interface {
	Balance(ctx context.Context) (Balance, error)
}

// Deps are the collaborators an adapter gets from its host process. Every
// field is optional.
type Deps struct {
	// HTTP is the client used for every call. Nil: the adapter builds its own
	// with its Options.Timeout.
	HTTP *http.Client
	// Tokens is where access tokens are cached and shared between worker
	// processes. Nil: an in-process store (tokens not shared).
	Tokens token.Store
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Log receives adapter events (token refreshes, redirects). Zero value:
	// disabled.
	Log zerolog.Logger
}

// Clock returns d.Now or time.Now.
func (d Deps) Clock() func() time.Time {
	if d.Now != nil {
		return d.Now
	}
	return time.Now
}

// Store returns d.Tokens or a fresh in-memory store.
func (d Deps) Store() token.Store {
	if d.Tokens != nil {
		return d.Tokens
	}
	return token.NewMemoryStore()
}

// Client returns d.HTTP or a client with the given timeout (30 s when zero).
func (d Deps) Client(timeout time.Duration) *http.Client {
	if d.HTTP != nil {
		return d.HTTP
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		// Redirects are handled by the adapters that expect them (Kaizala
		// 308): following them silently would drop the auth header.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
