package keccel

import (
	"errors"
	"net/url"
	"strings"

	"github.com/smsq/smsq/providers"
)

// ErrBadCallback is wrapped by every ParseCallback error.
var ErrBadCallback = errors.New("malformed delivery callback")

// ParseCallback reads the delivery report Keccel pushes to the callback URL
// registered with it: GET <url>?messageID=123456&status=DELIVERED (or
// FAILED). The id key is also accepted in lower case, as delivery.asp spells
// it, and the status in any case. Errors are *providers.Error of
// ClassRequest wrapping ErrBadCallback.
func ParseCallback(q url.Values) (providers.DeliveryReport, error) {
	id := strings.TrimSpace(q.Get("messageID"))
	if id == "" {
		id = strings.TrimSpace(q.Get("messageid"))
	}
	switch {
	case id == "":
		return providers.DeliveryReport{}, callbackError("missing messageID")
	case len(id) > 64:
		return providers.DeliveryReport{}, callbackError("messageID too long")
	}
	raw := strings.TrimSpace(q.Get("status"))
	rep := providers.DeliveryReport{ProviderID: id, Raw: raw}
	switch strings.ToUpper(raw) {
	case "DELIVERED":
		rep.State = providers.DeliveryDelivered
	case "FAILED":
		rep.State = providers.DeliveryFailed
	case "":
		return providers.DeliveryReport{}, callbackError("missing status")
	default:
		// Keccel documents only the two final words for callbacks.
		return providers.DeliveryReport{}, callbackError("unknown status")
	}
	return rep, nil
}

func callbackError(msg string) error {
	return &providers.Error{Class: providers.ClassRequest, Provider: name, Op: "callback", Message: msg, Err: ErrBadCallback}
}
