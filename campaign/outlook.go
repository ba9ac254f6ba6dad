package campaign

import (
	"time"

	"github.com/smsq/smsq/pacing"
)

// Outlook is what is left of a campaign and when it should happen.
type Outlook struct {
	// Remaining is how many sendable recipients have no settled fate yet.
	Remaining int64 `json:"remaining"`
	// NextBlock is the next block to start (-1 when none is left) and
	// NextBlockAt its expected start: the campaign's pacing applied from
	// now, assuming the block in flight completes in time.
	NextBlock   int       `json:"next_block"`
	NextBlockAt time.Time `json:"next_block_at,omitzero"`
	// ETA is when the campaign should be through: the start of its last
	// block when paced (blocks themselves go out at the provider's rate),
	// else now plus the remaining recipients at the rate achieved so far.
	// Zero when unknown (nothing sent yet on an unpaced campaign, paused,
	// cancelled).
	ETA time.Time `json:"eta,omitzero"`
	// AwaitingReport counts recipients submitted to a provider that has
	// not reported their delivery yet; Delivered, Failed and Expired those
	// with a final word (Failed includes sends that failed after every
	// attempt; Expired: no report within delivery.expiry).
	AwaitingReport int64 `json:"awaiting_report"`
	Delivered      int64 `json:"delivered"`
	Failed         int64 `json:"failed"`
	Expired        int64 `json:"expired"`
	// DeliveryRate is Campaign.DeliveryRate: delivered / (submitted +
	// delivered + failed + expired), 0 when nothing was sent.
	DeliveryRate float64 `json:"delivery_rate"`
}

// Outlook computes c's outlook at now.
func (c *Campaign) Outlook(now time.Time) (Outlook, error) {
	o := Outlook{Remaining: max(0, int64(c.Sendable)-c.Processed()), NextBlock: -1,
		AwaitingReport: c.Counts[Submitted.String()], Delivered: c.Counts[Delivered.String()],
		Failed: c.Counts[Failed.String()], Expired: c.Counts[Expired.String()], DeliveryRate: c.DeliveryRate()}
	switch c.State {
	case Done:
		o.ETA = c.Finished
		return o, nil
	case Cancelled, Importing:
		return o, nil
	}
	plan, err := pacing.Parse(c.Pacing)
	if err != nil {
		return o, err
	}
	if c.NextBlock < c.Blocks {
		o.NextBlock = c.NextBlock
		o.NextBlockAt = plan.Resume(now, c.LastBlockStart)
	}
	if c.State == Paused {
		return o, nil
	}
	if plan.Paced() {
		switch {
		case o.NextBlock >= 0:
			// Blocks are this campaign's own layout; pacing counts them the same.
			left := plan.ScheduleFrom(o.NextBlock, o.NextBlockAt, c.Sendable, 0)
			if len(left) > 0 {
				o.ETA = left[len(left)-1].Start
			}
		case c.InFlight():
			o.ETA = c.LastBlockStart
		}
		return o, nil
	}
	done := c.Processed()
	if done > 0 && !c.FirstBlockStart.IsZero() && now.After(c.FirstBlockStart) {
		per := now.Sub(c.FirstBlockStart) / time.Duration(done)
		o.ETA = now.Add(per * time.Duration(o.Remaining))
	}
	return o, nil
}
