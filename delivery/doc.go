// Package delivery follows a message after the provider accepted it, until
// a final delivery report or the delivery deadline, and folds every report
// into the ledger's state machine whatever its source:
//
//   - Pull: for providers with a status endpoint (providers.StatusPoller) a
//     delivery:poll task is scheduled after each submission and again on a
//     back-off Schedule while the answer is not final. Polls go through the
//     throttle Guard on the bulk lane, so they share the provider's rate with
//     sends and never crowd out transactional traffic. A message with no
//     final report Expiry after its submission becomes "expired".
//   - Push: Callbacks is the HTTP receiver for provider callbacks (Keccel's
//     GET with messageID and status, Sakari's message-status webhook). The
//     URL carries a secret; anything else gets 401.
//
// A push report that arrives before the worker recorded the submission (the
// provider can be faster than our own ledger write) is kept in Redis under
// the provider's message id and applied by the after-submit hook. A final
// push report cancels the message's pending poll.
//
// Campaign recipients are not in the ledger: a report for an id the
// ledger lacks goes to Options.Campaigns (the campaign store), and is kept
// only when no campaign knows it either; the campaign poller applies kept
// reports (ApplyKept) before it polls. Every final report and expiry is
// counted in Options.Metrics.
//
// Redis cost per message in flight: one asynq task (the next poll) and one
// small string key naming it, both gone once the message is final.
//
// Keys (prefix "smsq:" by default):
//
//	smsq:dl:poll:<id>              id of the message's pending poll task
//	smsq:dl:kept:<provider>:<pid>  a report for a message not yet recorded
package delivery
