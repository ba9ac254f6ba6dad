package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// Campaign is one campaign's progress as a CampaignSource reports it.
type Campaign struct {
	// ID labels the series (campaign="…"). Use the campaign id, never
	// anything a person typed freely: it is kept by Prometheus.
	ID string
	// Recipients counts recipients by state ("pending", "submitted",
	// "failed", …); the states are the source's own.
	Recipients map[string]int64
}

// CampaignSource reports campaign progress at scrape time. Campaigns is
// called at most once per scrape (less often within Options.MaxAge) with
// the most campaigns to return; it should return the ones worth watching
// (scheduled, running, paused) and cost a bounded number of Redis round
// trips: a scrape must not grow with the number of campaigns ever run.
type CampaignSource interface {
	Campaigns(ctx context.Context, limit int) ([]Campaign, error)
}

// CampaignFunc adapts a function to CampaignSource, so the campaign store
// can be plugged in without depending on this package's interfaces:
//
//	metrics.CampaignFunc(func(ctx context.Context, limit int) ([]metrics.Campaign, error) { … })
type CampaignFunc func(ctx context.Context, limit int) ([]Campaign, error)

// Campaigns calls f.
func (f CampaignFunc) Campaigns(ctx context.Context, limit int) ([]Campaign, error) {
	return f(ctx, limit)
}

// Counted is the little a campaign must tell to be reported: its id and
// its recipients by state. CountedSource turns any lister of such values
// into a CampaignSource.
type Counted interface {
	CampaignID() string
	RecipientCounts() map[string]int64
}

// CountedSource adapts list, which returns at most limit campaigns worth
// watching, to CampaignSource.
func CountedSource[T Counted](list func(ctx context.Context, limit int) ([]T, error)) CampaignSource {
	return CampaignFunc(func(ctx context.Context, limit int) ([]Campaign, error) {
		cs, err := list(ctx, limit)
		if err != nil {
			return nil, err
		}
		out := make([]Campaign, 0, len(cs))
		for _, c := range cs {
			out = append(out, Campaign{ID: c.CampaignID(), Recipients: c.RecipientCounts()})
		}
		return out, nil
	})
}

func (c *sharedCollector) campaigns(ctx context.Context, out []prometheus.Metric) []prometheus.Metric {
	if c.o.Campaigns == nil {
		return out
	}
	cs, err := c.o.Campaigns.Campaigns(ctx, c.o.MaxCampaigns)
	if err != nil {
		c.failed(srcCampaigns, "", err)
		return out
	}
	// The cap holds even if the source returns more than asked.
	seen := make(map[string]bool, len(cs))
	for _, cp := range cs[:min(len(cs), c.o.MaxCampaigns)] {
		if cp.ID == "" || seen[cp.ID] {
			continue // two series with the same labels would fail the whole scrape
		}
		seen[cp.ID] = true
		for state, n := range cp.Recipients {
			out = append(out, gauge(campaignRecipients, float64(n), cp.ID, state))
		}
	}
	return out
}
