package delivery

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/keccel"
	"github.com/smsq/smsq/providers/sakari"
)

// CallbackPrefix is where Callbacks serves: CallbackPrefix + secret + "/" +
// provider. Mount the handler on it (mux.Handle(CallbackPrefix, h)).
const CallbackPrefix = "/callbacks/"

// DefaultMaxBody caps a callback request body.
const DefaultMaxBody = 64 << 10

// CallbackOptions configure Callbacks.
type CallbackOptions struct {
	// Secret must be the URL's secret segment (delivery.callback_secret).
	// Default "": every callback is refused with 401.
	Secret string `koanf:"callback_secret"`
	// MaxBody caps a request body in bytes; larger bodies get 413.
	// Default 64 KiB.
	MaxBody int64 `koanf:"max_body"`
}

// CallbackPath is the path a provider must call, below the worker's root.
func CallbackPath(secret, provider string) string {
	return CallbackPrefix + secret + "/" + provider
}

// Callbacks returns the receiver of provider delivery callbacks:
//
//	GET  /callbacks/{secret}/keccel?messageID=…&status=DELIVERED|FAILED
//	POST /callbacks/{secret}/sakari   (a message-status webhook event)
//
// A wrong or missing secret gets 401 before anything else is looked at. A
// report answers 200 when applied or already known, 202 when kept for a
// message not recorded yet, 400 when malformed; 500 asks the provider to
// try again later.
func (s *Service) Callbacks(o CallbackOptions) http.Handler {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	rv := &receiver{s: s, maxBody: o.MaxBody}
	if o.Secret != "" {
		sum := sha256.Sum256([]byte(o.Secret))
		rv.secret = sum[:]
	}
	return rv
}

type receiver struct {
	s       *Service
	secret  []byte // sha256 of the secret; nil refuses everything
	maxBody int64
}

// authorised compares digests, so the comparison takes the same time
// whatever the length or content of the guess.
func (rv *receiver) authorised(got string) bool {
	if rv.secret == nil || got == "" {
		return false
	}
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], rv.secret) == 1
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, rv.maxBody)
	defer func() { _, _ = io.Copy(io.Discard, r.Body) }()
	rest, _ := strings.CutPrefix(r.URL.Path, CallbackPrefix)
	secret, provider, _ := strings.Cut(rest, "/")
	if !rv.authorised(secret) {
		// The request is not echoed: its path holds whatever was guessed.
		rv.s.o.Log.Warn().Str("remote", r.RemoteAddr).Msg("callback refused: wrong or missing secret")
		answer(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	switch provider {
	case "keccel":
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			answer(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		rep, err := keccel.ParseCallback(r.URL.Query())
		if err != nil {
			answer(w, http.StatusBadRequest, reason(err))
			return
		}
		rv.report(w, r, "keccel", rep)
	case sakari.Name:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			answer(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				answer(w, http.StatusRequestEntityTooLarge, "body too large")
				return
			}
			answer(w, http.StatusBadRequest, "unreadable body")
			return
		}
		rep, ok, err := sakari.ParseEvent(body)
		switch {
		case err != nil:
			answer(w, http.StatusBadRequest, reason(err))
		case !ok:
			// Another event type, or a status event without a message id:
			// acknowledged so Sakari does not resend it; the poll covers it.
			answer(w, http.StatusOK, Ignored.String())
		default:
			rv.report(w, r, sakari.Name, rep)
		}
	default:
		answer(w, http.StatusNotFound, "no such provider callback")
	}
}

func (rv *receiver) report(w http.ResponseWriter, r *http.Request, provider string, rep providers.DeliveryReport) {
	out, err := rv.s.Report(r.Context(), provider, rep, ledger.SourceCallback)
	if err != nil {
		rv.s.o.Log.Error().Err(err).Str("provider", provider).Str("provider_message_id", rep.ProviderID).
			Msg("delivery callback not recorded; the provider should send it again")
		answer(w, http.StatusInternalServerError, "not recorded, try again")
		return
	}
	code := http.StatusOK
	if out == Kept {
		code = http.StatusAccepted
	}
	answer(w, code, out.String())
}

// reason is an adapter error's own explanation, without the provider
// prefix.
func reason(err error) string {
	var pe *providers.Error
	if errors.As(err, &pe) && pe.Message != "" {
		return pe.Message
	}
	return "malformed callback"
}

func answer(w http.ResponseWriter, code int, result string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	key := "result"
	if code >= 400 {
		key = "error"
	}
	_ = json.NewEncoder(w).Encode(map[string]string{key: result})
}
