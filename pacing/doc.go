// Package pacing turns a campaign's pacing settings into block start times.
//
// The settings follow Conectaline's "custom configuration": a start_date
// (yyyy-mm-dd hh:mm) read on the wall clock of an IANA time zone and,
// optionally, smsxblock and minutesxblock, which must be given together.
//
// With both, the campaign goes out in blocks of smsxblock recipients, and
// messages may only be submitted at allowed instants: those whose local
// weekday is in days (1 = Monday … 7 = Sunday, empty = every day) and whose
// local wall-clock time lies in one of time_intervals (hh:mm-hh:mm, start
// inclusive, end exclusive, 24:00 allowed as an end, empty = all day). An
// interval whose end is not after its start crosses midnight and belongs to
// the day it starts on: with days=5, 22:00-02:00 allows Friday 22:00 to
// Saturday 02:00 and nothing on Thursday night. In particular 10:00-10:00
// is a 24-hour window starting at 10:00 and 00:00-00:00 is the whole day,
// like 00:00-24:00. Overlapping intervals simply add up.
//
// Block 0 starts at the first allowed instant at or after start_date; block
// k starts at the first allowed instant at or after the start of block k−1
// plus minutesxblock minutes, and holds recipients k·smsxblock up to
// (k+1)·smsxblock−1.
//
// Without the pair everything goes out from start_date as fast as the
// provider allows: one block holding every recipient and no windows.
// Conectaline silently ignores days and time_intervals in that case; Parse
// rejects them instead, because a window the user believes in but that is
// not enforced is worse than an error.
//
// # Time zones and daylight saving
//
// Everything is defined on the wall clock of the campaign's zone, so
// daylight-saving changes need no special rules, only care:
//
//   - A window is the set of instants whose local reading falls inside it.
//     On a spring-forward day a window 02:30-04:00 in Europe/Madrid opens at
//     the jump (03:00 CEST), because that is the first instant whose reading
//     is inside it; a window lying wholly in the gap (02:15-02:45) does not
//     occur that day. A window end inside the gap closes at the jump too.
//   - On a fall-back day a reading that occurs twice is allowed both times:
//     02:00-02:30 in Madrid opens at 02:00 CEST and again at 02:00 CET.
//   - start_date is converted to the first instant at which the local clock
//     shows that reading or later: the earlier one when the reading occurs
//     twice, the moment of the jump when it is skipped. We do not use
//     time.Date's normalisation, which the time package leaves unspecified
//     for skipped readings and which in practice moves them forward in
//     Europe/Madrid (02:30 → 03:30) but backward in America/Santiago
//     (00:30 → 23:30 the day before).
//   - Days skipped by a zone (Pacific/Apia skipped Friday 2011-12-30) are
//     simply absent.
//
// # Using a Plan to send
//
// A sender submits block k from its Block.Start on, stopping at WindowEnd and
// continuing at NextAllowed when it is cut off; block k+1 waits until block
// k is done even if its nominal start has passed. After downtime, Resume
// gives the next block's start from the last block actually started, so
// missed blocks are spaced minutesxblock apart instead of bursting.
package pacing
