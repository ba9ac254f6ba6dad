package conectaline

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/smsq/smsq/providers"
)

// Campaign is a campaign created and paced by Conectaline itself, sent to
// agenda (contact) groups kept in its panel. smsq paces its own campaigns
// locally; this is for operators who want the provider's pacing instead.
type Campaign struct {
	// Name labels the campaign in the panel. Required.
	Name string
	// Message is the text sent to every contact. Required.
	Message string
	// Groups are agenda group ids (sent as available_groups "3,4").
	// Required, each positive.
	Groups []int
	// StartDate is "yyyy-mm-dd hh:mm" (time zone unspecified by the
	// provider). Sent only with custom pacing; empty: start now.
	StartDate string
	// SMSPerBlock (smsxblock) and MinutesPerBlock (minutesxblock) turn on
	// custom pacing: SMSPerBlock messages every MinutesPerBlock minutes.
	// Set both or neither; zero means unset.
	SMSPerBlock     int
	MinutesPerBlock int
	// Days are the weekdays sending is allowed on, 1 = Monday … 7 = Sunday.
	// Custom pacing only; empty: the provider's default.
	Days []int
	// TimeIntervals are the allowed windows, "hh:mm-hh:mm". Custom pacing
	// only; empty: the provider's default.
	TimeIntervals []string
}

// paced reports whether the campaign uses the provider's custom pacing.
func (c Campaign) paced() bool { return c.SMSPerBlock > 0 && c.MinutesPerBlock > 0 }

// Validate checks what can be checked locally, naming each bad field as it
// is called on the wire. The provider validates dates, days and windows.
func (c Campaign) Validate() error {
	var errs []error
	bad := func(field, reason string) {
		errs = append(errs, errors.New("conectaline.campaign."+field+": "+reason))
	}
	if strings.TrimSpace(c.Name) == "" {
		bad("name", "required")
	}
	if c.Message == "" {
		bad("message", "required")
	}
	if len(c.Groups) == 0 {
		bad("available_groups", "at least one group id required")
	}
	for _, g := range c.Groups {
		if g <= 0 {
			bad("available_groups", "group ids must be positive")
			break
		}
	}
	if c.SMSPerBlock < 0 {
		bad("smsxblock", "must be positive")
	}
	if c.MinutesPerBlock < 0 {
		bad("minutesxblock", "must be positive")
	}
	switch {
	case c.SMSPerBlock > 0 && c.MinutesPerBlock <= 0:
		bad("minutesxblock", "required with smsxblock (set both or neither)")
	case c.MinutesPerBlock > 0 && c.SMSPerBlock <= 0:
		bad("smsxblock", "required with minutesxblock (set both or neither)")
	case !c.paced():
		// The provider would silently ignore these without custom pacing.
		if c.StartDate != "" {
			bad("start_date", "only used with smsxblock and minutesxblock")
		}
		if len(c.Days) > 0 {
			bad("days", "only used with smsxblock and minutesxblock")
		}
		if len(c.TimeIntervals) > 0 {
			bad("time_intervals", "only used with smsxblock and minutesxblock")
		}
	}
	return errors.Join(errs...)
}

// CreateCampaign creates a campaign with POST push/campaigns and returns the
// id the provider gave it ("" when the answer carries none).
func (c *Client) CreateCampaign(ctx context.Context, cp Campaign) (string, error) {
	if err := cp.Validate(); err != nil {
		return "", &providers.Error{Class: providers.ClassRequest, Provider: provider, Op: opCampaign, Message: "invalid campaign", Err: err}
	}
	form := url.Values{
		"name":               {cp.Name},
		"configuration_name": {c.o.ConfigurationName},
		"message":            {cp.Message},
		"available_groups":   {joinInts(cp.Groups)},
	}
	if cp.paced() {
		form.Set("smsxblock", strconv.Itoa(cp.SMSPerBlock))
		form.Set("minutesxblock", strconv.Itoa(cp.MinutesPerBlock))
		if cp.StartDate != "" {
			form.Set("start_date", cp.StartDate)
		}
		if len(cp.Days) > 0 {
			form.Set("days", joinInts(cp.Days))
		}
		if len(cp.TimeIntervals) > 0 {
			form.Set("time_intervals", strings.Join(cp.TimeIntervals, ","))
		}
	}
	data, err := c.post(ctx, opCampaign, pathCampaigns, form)
	if err != nil {
		return "", err
	}
	return decodeAnswer(data).id, nil
}

// joinInts writes ids the way the documents show lists: "3,4", no spaces.
func joinInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}
