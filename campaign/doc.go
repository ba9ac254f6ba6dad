// Package campaign stores bulk campaigns in Redis and sends them block by
// block, paced locally (package pacing) for every provider.
//
// # Storage
//
// Everything about campaign <id> lives under keys sharing the hash tag
// {<id>}, so the Lua scripts below also work on Redis Cluster:
//
//	smsq:c:{id}        meta hash: settings, state, block progress, counters
//	smsq:c:{id}:r:<n>  recipients n·1000 … n·1000+999, one line each:
//	                   E.164 <TAB> template field values (escaped)
//	smsq:c:{id}:s      one byte per recipient: its RecipientState
//	smsq:c:{id}:d:<n>  recipients n·100 … n·100+99 awaiting a delivery
//	                   report: index%100 → provider message id
//	smsq:c:{id}:dl     block → its round of delivery polls
//	smsq:c:{id}:lock   held while a block of the campaign runs
//	smsq:campaigns     sorted set of every campaign id by creation time
//	smsq:campaigns:active  campaigns the scheduler looks at
//	smsq:campaigns:live    running and paused campaigns, for monitoring
//	smsq:dlx:<bucket>  global: provider message id → campaign and recipient
//	                   (see report.go), with smsq:campaigns:num|seq
//
// Import puts the recipients to send first, in file order, and the
// suppressed ones after them, so blocks only ever cover sendable
// recipients and every block but the last holds exactly smsxblock.
//
// # Sending
//
// Blocks run strictly one after another: block k+1 is claimed (a
// compare-and-set on next_block in the meta hash) only once block k is
// complete, and enqueued as a campaign:block task with the deterministic id
// "<campaign>:<block>" at its pacing start. The Scheduler does this for
// every active campaign under a Redis lease; the block Handler does it too
// as soon as it finishes a block, so the next one is not late by a tick.
// Either way the claim and the task id make a second enqueue impossible.
//
// The Handler marks each batch's recipients "sending" before the provider
// call and their fate after it, one byte each, with the per-state counters
// updated in the same script. A rerun finds recipients of a crashed run in
// "sending", marks them "unknown" and sends them again, like single sends.
//
// # Delivery
//
// For a provider that reports delivery (providers.StatusPoller: Keccel,
// Sakari) the handler records each submitted recipient's provider id and
// starts the block's round of delivery polls (Poller): one campaign:poll
// task per block and back-off step walks the block's recipients still
// submitted, on delivery.Schedule, until each is delivered or failed, or
// expired at delivery.expiry. Push reports reach the recipient through the
// global id index (Store.Settle, the delivery service's Campaigns). Both
// move its state byte and the counters in one script, and only from
// submitted: final states never change. When the round ends the ids are
// dropped, so they cost memory only while reports are awaited.
package campaign
