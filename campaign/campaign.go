package campaign

import (
	"strconv"
	"strings"
	"time"

	"github.com/smsq/smsq/pacing"
)

// Definition is what a campaign is made of besides its recipients.
type Definition struct {
	// ID is the campaign id. Default "": generated (see NewID). Given ids
	// use 1–64 letters, digits, '.', '_' or '-'.
	ID string `json:"id,omitempty"`
	// Name is a label for people. Default "": the id.
	Name string `json:"name"`
	// Provider sends the campaign: an SMS provider, not Kaizala (it sends
	// to groups, not numbers). Required.
	Provider string `json:"provider"`
	// Message is the template, {{field}} filled from the recipient's
	// columns. Required.
	Message string `json:"message"`
	// From is the sender. Default "": the provider's configured sender.
	From string `json:"from,omitempty"`
	// Pacing is the schedule: start_date, time zone and optionally the
	// block settings.
	Pacing pacing.Spec `json:"pacing"`
}

// Campaign is a stored campaign as its meta hash describes it.
type Campaign struct {
	Definition
	State State `json:"state"`
	// PauseReason says why the campaign was paused when smsq paused it
	// itself (e.g. the provider refused the credentials).
	PauseReason string `json:"pause_reason,omitempty"`
	// Fields are the template's field names, in the order recipients
	// store their values.
	Fields []string `json:"fields,omitempty"`
	// Total is how many recipients are stored; Sendable of them (indices
	// 0 … Sendable-1) are to be sent, the rest are suppressed.
	Total    int `json:"total"`
	Sendable int `json:"sendable"`
	// BlockSize is how many recipients a block holds: smsxblock when
	// paced, the provider's batch size otherwise.
	BlockSize int `json:"block_size"`
	Blocks    int `json:"blocks"`
	// NextBlock is the next block to enqueue; blocks below it have been
	// enqueued. BlocksDone counts the blocks completed (they complete in
	// order). NextBlock > BlocksDone means block NextBlock-1 is in flight.
	NextBlock  int `json:"next_block"`
	BlocksDone int `json:"blocks_done"`
	// LastBlockStart is the start of block NextBlock-1; FirstBlockStart
	// that of block 0. Zero before any.
	LastBlockStart  time.Time `json:"last_block_start,omitzero"`
	FirstBlockStart time.Time `json:"first_block_start,omitzero"`
	// Attempts counts failed provider calls at the head of the running
	// block since it last made progress.
	Attempts int       `json:"attempts"`
	Created  time.Time `json:"created"`
	Finished time.Time `json:"finished,omitzero"`
	// Counts is how many recipients are in each state.
	Counts map[string]int64 `json:"counts"`
	// Resent counts recipients sent again after a worker stopped while
	// sending them (the provider may have received them twice).
	Resent int64 `json:"resent"`
}

// InFlight reports whether a block has been enqueued but not completed.
func (c *Campaign) InFlight() bool { return c.NextBlock > c.BlocksDone }

// blockRange is the recipients [lo, hi) of block k.
func (c *Campaign) blockRange(k int) (lo, hi int) {
	lo = k * c.BlockSize
	return lo, min(lo+c.BlockSize, c.Sendable)
}

// Processed is how many sendable recipients have a settled fate.
func (c *Campaign) Processed() int64 {
	return c.Counts[Submitted.String()] + c.Counts[Failed.String()] + c.Counts[Rejected.String()] +
		c.Counts[Delivered.String()] + c.Counts[Expired.String()]
}

// DeliveryRate is the share of the recipients handed to the provider, or
// given up on, that the provider reported delivered:
//
//	delivered / (submitted + delivered + failed + expired)
//
// Submitted recipients still wait for their report and count against the
// rate until it comes. Failed covers both failed delivery reports and
// recipients whose sending failed after every attempt. Rejected
// (refused at submission), suppressed and not yet sent recipients are left
// out. 0 while the denominator is 0.
func (c *Campaign) DeliveryRate() float64 {
	n := c.Counts[Submitted.String()] + c.Counts[Delivered.String()] + c.Counts[Failed.String()] + c.Counts[Expired.String()]
	if n <= 0 {
		return 0
	}
	return float64(c.Counts[Delivered.String()]) / float64(n)
}

// CampaignID is the campaign's id (metrics.Counted).
func (c *Campaign) CampaignID() string { return c.ID }

// RecipientCounts is how many recipients are in each state, every state
// named (metrics.Counted).
func (c *Campaign) RecipientCounts() map[string]int64 {
	out := make(map[string]int64, numRecipientStates)
	for _, s := range RecipientStates() {
		out[s.String()] = c.Counts[s.String()]
	}
	return out
}

// meta hash fields.
const (
	fName, fProvider, fMessage, fFrom, fFields                = "name", "provider", "message", "from", "fields"
	fStartDate, fTimeZone, fSMS, fMinutes, fDays, fIntervals  = "start_date", "time_zone", "smsxblock", "minutesxblock", "days", "time_intervals"
	fState, fPauseReason, fTotal, fSendable, fBlockSize       = "state", "pause_reason", "total", "sendable", "block_size"
	fBlocks, fNextBlock, fBlocksDone, fLastStart, fFirstStart = "blocks", "next_block", "blocks_done", "last_block_start", "first_block_start"
	fAttempts, fCreated, fFinished, fResent                   = "attempts", "created", "finished", "resent"
)

func (c *Campaign) metaFields() map[string]any {
	m := map[string]any{
		fName: c.Name, fProvider: c.Provider, fMessage: c.Message, fFrom: c.From, fFields: strings.Join(c.Fields, "\t"),
		fStartDate: c.Pacing.StartDate, fTimeZone: c.Pacing.TimeZone, fSMS: c.Pacing.SMSPerBlock,
		fMinutes: c.Pacing.MinutesPerBlock, fDays: c.Pacing.Days, fIntervals: c.Pacing.TimeIntervals,
		fState: string(c.State), fTotal: c.Total, fSendable: c.Sendable, fBlockSize: c.BlockSize, fBlocks: c.Blocks,
		fNextBlock: 0, fBlocksDone: 0, fLastStart: 0, fFirstStart: 0, fAttempts: 0, fCreated: ms(c.Created), fResent: 0,
	}
	for name, n := range c.Counts {
		m["n:"+name] = n
	}
	return m
}

func parseMeta(id string, h map[string]string) *Campaign {
	num := func(f string) int { n, _ := strconv.Atoi(h[f]); return n }
	num64 := func(f string) int64 { n, _ := strconv.ParseInt(h[f], 10, 64); return n }
	c := &Campaign{
		Definition: Definition{ID: id, Name: h[fName], Provider: h[fProvider], Message: h[fMessage], From: h[fFrom],
			Pacing: pacing.Spec{StartDate: h[fStartDate], TimeZone: h[fTimeZone], SMSPerBlock: num(fSMS),
				MinutesPerBlock: num(fMinutes), Days: h[fDays], TimeIntervals: h[fIntervals]}},
		State: State(h[fState]), PauseReason: h[fPauseReason],
		Total: num(fTotal), Sendable: num(fSendable), BlockSize: num(fBlockSize), Blocks: num(fBlocks),
		NextBlock: num(fNextBlock), BlocksDone: num(fBlocksDone),
		LastBlockStart: fromMS(num64(fLastStart)), FirstBlockStart: fromMS(num64(fFirstStart)),
		Attempts: num(fAttempts), Created: fromMS(num64(fCreated)), Finished: fromMS(num64(fFinished)),
		Resent: num64(fResent), Counts: map[string]int64{},
	}
	if f := h[fFields]; f != "" {
		c.Fields = strings.Split(f, "\t")
	}
	for _, s := range RecipientStates() {
		c.Counts[s.String()] = num64(counterField(s))
	}
	return c
}
