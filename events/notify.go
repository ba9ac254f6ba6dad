package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/smsq/smsq/callbackurl"
	"github.com/smsq/smsq/tasks"
)

// NotifierOptions configure a Notifier.
type NotifierOptions struct {
	// Secret signs every callback. Required.
	Secret string
	// Timeout bounds one callback request. Default 10s. Ignored when
	// Client is set.
	Timeout time.Duration
	// Client sends the callbacks. Default: a client with Timeout and its
	// own transport, which dials only public addresses (see AllowPrivate).
	// A Client given here is used as it is: it makes its own checks.
	Client *http.Client
	// AllowPrivate lets callbacks reach loopback, private, link-local and
	// other non-public addresses, and go through HTTP(S)_PROXY (local
	// development, tests; api.allow_private_callbacks). Default false: the
	// address every host name resolves to is checked as it is dialled,
	// and no proxy is used (through one, smsq could not see where the
	// receiver's name leads).
	AllowPrivate bool
	// Resolver looks up receivers' host names. Default net.DefaultResolver.
	Resolver Resolver
	// Now is the clock of the signature timestamp. Default time.Now.
	Now func() time.Time
	// Log gets callbacks given up on (and, at debug, every delivery).
	Log zerolog.Logger
}

// Notifier runs status:event tasks: it POSTs the event to its URL.
type Notifier struct {
	o NotifierOptions
}

var _ asynq.Handler = (*Notifier)(nil)

// NewNotifier checks o and returns a Notifier.
func NewNotifier(o NotifierOptions) (*Notifier, error) {
	if o.Secret == "" {
		return nil, errors.New("events: notifier needs a signing secret (api.signing_secret)")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Client == nil {
		d := &dialer{resolver: o.Resolver, net: net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}}
		tr := &http.Transport{
			DialContext:         d.DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     90 * time.Second,
		}
		if o.AllowPrivate {
			tr.Proxy = http.ProxyFromEnvironment
		} else {
			d.net.Control = refuseNonPublic
		}
		o.Client = &http.Client{Timeout: o.Timeout, Transport: tr}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Notifier{o: o}, nil
}

// StatusError is a receiver's non-2xx answer.
type StatusError struct {
	Code int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("callback receiver answered %d %s", e.Code, http.StatusText(e.Code))
}

// ProcessTask delivers one event. Any error makes asynq retry the task
// with back-off; the last failure is logged before asynq archives it.
func (n *Notifier) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p Payload
	if err := tasks.Decode(t, &p); err != nil {
		n.o.Log.Error().Err(err).Str("task_type", t.Type()).Msg("dropping undecodable status event task")
		return err
	}
	log := n.o.Log.With().Str("message_id", p.Event.ID).Str("event_id", p.Event.EventID).
		Str("state", string(p.Event.State)).Str("callback", redactURL(p.URL)).Logger()
	err := n.Deliver(ctx, p)
	if err == nil {
		log.Debug().Msg("status callback delivered")
		return nil
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	if errors.Is(err, callbackurl.ErrNonPublic) {
		// Where a name leads is the receiver's choice: trying again would
		// only knock at the same internal door.
		log.Error().Err(err).Int("attempts", retried+1).
			Msg("status callback refused: its host resolves to a non-public address; the task is archived")
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if retried >= maxRetry {
		log.Error().Err(err).Int("attempts", retried+1).
			Msg("status callback failed for good; the task is archived (re-run it from the monitoring UI)")
	} else {
		log.Warn().Err(err).Int("attempt", retried+1).Msg("status callback failed; will retry")
	}
	return err
}

// Deliver POSTs p's event to p.URL once, signed. A non-2xx answer is a
// *StatusError. Errors never contain the URL's path or query (they may
// hold a receiver's token).
func (n *Notifier) Deliver(ctx context.Context, p Payload) error {
	body, err := json.Marshal(p.Event)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("callback URL %s: %w", redactURL(p.URL), asynq.SkipRetry)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "smsq-events/1")
	req.Header.Set("X-Smsq-Event-Id", p.Event.EventID)
	req.Header.Set(SignatureHeader, Sign(n.o.Secret, n.o.Now(), body))
	resp, err := n.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL
		}
		return fmt.Errorf("callback to %s: %w", redactURL(p.URL), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("callback to %s: %w", redactURL(p.URL), &StatusError{Code: resp.StatusCode})
	}
	return nil
}

// redactURL keeps only scheme and host.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}
