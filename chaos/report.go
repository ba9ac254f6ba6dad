package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/mask"
)

// Result is what a run found. Counts are per recipient or message.
type Result struct {
	Report *Report
	// Recipients and Singles are the run's sizes.
	Recipients, Singles int
	// Lost: recorded as sent (or recorded nowhere) yet never received by
	// the sandbox.
	Lost int
	// Stuck: not settled when the wait ended.
	Stuck int
	// GaveUp: recorded failed or rejected.
	GaveUp int
	// Unexpected: destinations the sandbox received that were never sent.
	Unexpected int
	// Duplicates: recipients and messages the sandbox received more than
	// once; Extra counts the receptions beyond the first.
	Duplicates, Extra int
	// Unmarked: duplicates smsq did not mark unknown. Outside: duplicates
	// that were not in "sending" right after any kill or Redis restart.
	Unmarked, Outside int
	// InFlight: recipients and messages in "sending" right after a kill or
	// a Redis restart (each counted once).
	InFlight int
	// MarkedUnknown: campaign recipients and single sends smsq marked
	// unknown.
	MarkedUnknown int
	// Kills, RedisRestarts and UnexpectedExits count what happened to the
	// processes.
	Kills, RedisRestarts, UnexpectedExits int
	// ProbeLost: acknowledged probe writes missing after a Redis restart.
	ProbeLost int64
	// Elapsed is the whole run; Settle the traffic start to the last
	// message settled.
	Elapsed, Settle time.Duration
}

// Row is one figure of a report. A row with a Target is a check.
type Row = harness.Row

// Report is what a run prints.
type Report = harness.Report

// printReport writes the report, its notes indented, and a closing line
// that names the failed checks.
func printReport(w io.Writer, rp *Report, markdown bool) {
	rp.Print(w, harness.PrintOptions{Markdown: markdown, NotePrefix: "  "})
	status := rp.Status()
	if !rp.OK() {
		status += ": " + strings.Join(rp.Failed(), "; ")
	}
	fmt.Fprintf(w, "%s (total time %s)\n", status, rp.Elapsed.Round(100*time.Millisecond))
}

// maxDetails caps the per-recipient lines a report lists.
const maxDetails = 25

// details collects per-recipient problem lines up to maxDetails.
type details struct {
	lines []string
	more  int
}

func (d *details) add(format string, args ...any) {
	if len(d.lines) < maxDetails {
		d.lines = append(d.lines, fmt.Sprintf(format, args...))
		return
	}
	d.more++
}

// tally counts, per recipient and message, what the sandbox received
// against what smsq recorded, and builds the report.
func (r *run) tally(ctx context.Context, stuckSingles []string, waitErr error) (*Result, error) {
	o := r.o
	res := &Result{Recipients: len(r.numbers), Singles: len(r.singles)}
	rp := &Report{Title: fmt.Sprintf("chaos run (seed %d)", o.Seed)}
	res.Report = rp

	c, err := r.conn.Store.Get(ctx, r.campaignID)
	if err != nil {
		return nil, fmt.Errorf("chaos: read campaign: %w", err)
	}
	states, err := r.conn.Redis.Get(ctx, r.statesKey).Bytes()
	if err != nil {
		return nil, fmt.Errorf("chaos: read campaign states: %w", err)
	}
	recs := make(map[string]ledger.Record, len(r.singles))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, req := range r.singles {
		g.Go(func() error {
			rec, err := r.conn.Client.Ledger().Get(gctx, req.ID)
			if err != nil {
				if errors.Is(err, ledger.ErrNotFound) {
					return nil
				}
				return err
			}
			mu.Lock()
			recs[req.ID] = rec
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("chaos: read ledger: %w", err)
	}
	marks, gaps, monLines := r.watch.snapshot()
	received := map[string]map[string]int{}
	for _, p := range providerNames() {
		received[p] = r.fr.perDestination(p)
	}

	r.mu.Lock()
	inflight := append([]inFlight(nil), r.inflight...)
	restarts := append([]restartFigures(nil), r.restarts...)
	events := append([]string(nil), r.events...)
	kills := r.kills
	r.mu.Unlock()
	inCamp, inSingle := map[int]string{}, map[string]string{}
	for _, f := range inflight {
		for _, i := range f.campaign {
			if _, ok := inCamp[i]; !ok {
				inCamp[i] = f.what
			}
		}
		for _, id := range f.singles {
			if _, ok := inSingle[id]; !ok {
				inSingle[id] = f.what
			}
		}
	}
	// A single send's history also says what it was doing at each
	// disruption: "sending" as its latest entry before the SIGKILL.
	for _, f := range inflight {
		for id, rec := range recs {
			if _, ok := inSingle[id]; !ok && stateAt(rec.History, f.at) == ledger.Sending {
				inSingle[id] = f.what
			}
		}
	}
	res.InFlight = len(inCamp) + len(inSingle)

	var probs, dups details
	// Campaign recipients against the Conectaline fake.
	campStates := map[string]int{}
	campDup, campMarked, markedDup := 0, 0, 0
	var campDups []dupRun
	want := map[string]bool{}
	for i, num := range r.numbers {
		d := harness.Digits(num)
		want[d] = true
		st := campaign.Pending
		if i < len(states) {
			st = campaign.RecipientState(states[i])
		}
		campStates[st.String()]++
		n := received["conectaline"][d]
		switch st {
		case campaign.Pending, campaign.Sending, campaign.Unknown:
			res.Stuck++
			probs.add("STUCK campaign recipient %d (%s): %s, received %d time(s)", i, mask.Phone(num), st, n)
		case campaign.Failed, campaign.Rejected, campaign.Expired, campaign.Suppressed:
			res.GaveUp++
			probs.add("GAVE UP campaign recipient %d (%s): %s, received %d time(s)", i, mask.Phone(num), st, n)
		default:
			if n == 0 {
				res.Lost++
				probs.add("LOST campaign recipient %d (%s): recorded %s, never received", i, mask.Phone(num), st)
			}
		}
		if marks[i] > 0 {
			campMarked++
		}
		if n > 1 {
			campDup++
			res.Extra += n - 1
			where, in := inCamp[i]
			if marks[i] == 0 {
				res.Unmarked++
			}
			if !in {
				res.Outside++
				where = "not in flight at any disruption"
			}
			if marks[i] > 0 {
				markedDup++
			}
			campDups = append(campDups, dupRun{lo: i, hi: i, times: n, marked: marks[i] > 0, where: where})
		}
	}
	for d := range received["conectaline"] {
		if !want[d] {
			res.Unexpected++
		}
	}

	// Single sends against the Keccel and Sakari fakes.
	singleStates := map[string]int{}
	singleDup, singleMarked := 0, 0
	wantSingle := map[string]map[string]bool{"keccel": {}, "sakari": {}}
	for _, req := range r.singles {
		d := harness.Digits(req.To)
		wantSingle[req.Provider][d] = true
		n := received[req.Provider][d]
		rec, ok := recs[req.ID]
		if !ok {
			singleStates["no record"]++
			res.Lost++
			probs.add("LOST single send %s (%s, %s): no ledger record, received %d time(s)", req.ID, req.Provider, mask.Phone(req.To), n)
			continue
		}
		singleStates[string(rec.State)]++
		marked := false
		for _, h := range rec.History {
			if h.State == ledger.Unknown {
				marked = true
			}
		}
		if marked {
			singleMarked++
		}
		switch {
		case !settled(rec.State):
			res.Stuck++
			probs.add("STUCK single send %s (%s): %s, %d attempts, received %d time(s)", req.ID, req.Provider, rec.State, rec.Attempts, n)
		case rec.State != ledger.Submitted && rec.State != ledger.Delivered:
			res.GaveUp++
			probs.add("GAVE UP single send %s (%s): %s (%s), received %d time(s)", req.ID, req.Provider, rec.State, rec.LastError, n)
		case n == 0:
			res.Lost++
			probs.add("LOST single send %s (%s): recorded %s, never received", req.ID, req.Provider, rec.State)
		}
		if n > 1 {
			singleDup++
			res.Extra += n - 1
			where, in := inSingle[req.ID]
			if !marked {
				res.Unmarked++
			}
			if !in {
				res.Outside++
				where = "not in flight at any disruption"
			}
			if marked {
				markedDup++
			}
			dups.add("single send %s (%s): received %d times; %s; in \"sending\" after %s", req.ID, req.Provider, n, markText(marked, "its history shows unknown"), where)
		}
	}
	for _, p := range []string{"keccel", "sakari"} {
		for d := range received[p] {
			if !wantSingle[p][d] {
				res.Unexpected++
			}
		}
	}
	res.Duplicates = campDup + singleDup
	var campLines details
	for _, d := range groupDups(campDups) {
		campLines.add("%s", d.String())
	}
	dups.lines, dups.more = append(campLines.lines, dups.lines...), campLines.more+dups.more
	res.MarkedUnknown = campMarked + singleMarked
	crashes := r.fl.crashes()
	res.UnexpectedExits = len(crashes)
	res.Kills, res.RedisRestarts = kills, len(restarts)
	archived := r.conn.Archived()

	// The report.
	rp.Setup = []string{
		fmt.Sprintf("%d cores, %s, %s/%s; 1-min load average %s at the end", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, harness.LoadAvg()),
		fmt.Sprintf("one private redis-server on loopback, AOF on with appendfsync always, no RDB; MONITOR attached to see unknown marks (%d lines read)", monLines),
		fmt.Sprintf("%d worker processes (concurrency 20) and 1 scheduler process, built once; provider sandbox in this process, holding each send answer after accepting it (%s for a single send, %s for a batch)", o.Workers, o.Hold, o.BatchHold),
		fmt.Sprintf("campaign: %d recipients, Conectaline push/multiple (1000 per call), unpaced, limit %d messages/s", len(r.numbers), o.CampaignRate),
		fmt.Sprintf("single sends: %d through tasks.Client, enqueued evenly over %s, alternately Keccel and Sakari, limit %d/s each", len(r.singles), o.Window, o.SingleRate),
		fmt.Sprintf("disruptions within %s of the traffic start: %d SIGKILLs of random workers (replacement 1s later), %d Redis SIGKILL and restart %s later, %d×429 storms (50%% of calls, Retry-After 1) and %d×5xx storms (30%% of calls), %s each",
			o.Window, o.Kills, o.RedisRestarts, o.RedisDown, o.Storms, o.Storms, o.StormLength),
	}
	if waitErr != nil {
		rp.Check("completion", waitErr.Error(), "everything settled", false)
	}
	rp.Info("campaign recipients by final state", "%s (campaign %s)", stateList(campStates), c.State)
	rp.Info("single sends by final state (ledger)", "%s", stateList(singleStates))
	rp.Check("unsettled (STUCK)", fmt.Sprint(res.Stuck), "0", res.Stuck == 0)
	rp.Check("lost: recorded sent or unrecorded, never received", fmt.Sprint(res.Lost), "0", res.Lost == 0)
	rp.Check("given up (failed, rejected)", fmt.Sprint(res.GaveUp), "0", res.GaveUp == 0)
	rp.Check("destinations received that were never sent", fmt.Sprint(res.Unexpected), "0", res.Unexpected == 0)
	rp.Check("duplicates (received more than once)",
		fmt.Sprintf("%d: %d campaign recipients, %d single sends; %d extra receptions", res.Duplicates, campDup, singleDup, res.Extra),
		fmt.Sprintf("≤ %d in flight at the disruptions", res.InFlight), res.Duplicates <= res.InFlight)
	rp.Check("duplicates not marked unknown", fmt.Sprint(res.Unmarked), "0", res.Unmarked == 0)
	rp.Check("duplicates not in flight at a disruption", fmt.Sprint(res.Outside), "0", res.Outside == 0)
	rp.Info("in flight at the disruptions", "%d: %d campaign recipients and %d single sends in \"sending\" at a kill or the Redis restart (state right after it, and single sends' histories; including live workers' calls)",
		res.InFlight, len(inCamp), len(inSingle))
	rp.Info("marked unknown", "%d: %d campaign recipients (seen on MONITOR; resent counter %d), %d single sends (ledger history); %d of them reached the provider more than once, the rest were cut before it accepted them",
		res.MarkedUnknown, campMarked, c.Resent, singleMarked, markedDup)
	sumMarks := 0
	for _, n := range marks {
		sumMarks += n
	}
	gapText := "no reconnection"
	if len(gaps) > 0 {
		var gs []string
		for _, g := range gaps {
			gs = append(gs, g.Round(time.Millisecond).String())
		}
		gapText = "reconnected after " + strings.Join(gs, ", ")
	}
	rp.Check("MONITOR saw every campaign unknown mark", fmt.Sprintf("%d marks; resent counter %d (%s)", sumMarks, c.Resent, gapText),
		"marks = resent counter", int64(sumMarks) == c.Resent)
	for i, rf := range restarts {
		lost := max(0, rf.probeAck-rf.probeGot)
		res.ProbeLost += lost
		rp.Check(fmt.Sprintf("Redis restart %d: acknowledged writes lost", i+1),
			fmt.Sprintf("%d (probe acknowledged %d, found %d); down %s", lost, rf.probeAck, rf.probeGot, rf.down.Round(time.Millisecond)),
			"0", lost == 0 && rf.probeGot >= 0)
	}
	rp.Check("kills and Redis restarts made", fmt.Sprintf("%d kills, %d restarts", res.Kills, res.RedisRestarts),
		fmt.Sprintf("%d, %d", o.Kills, o.RedisRestarts), res.Kills == o.Kills && res.RedisRestarts == o.RedisRestarts)
	rp.Check("processes that exited by themselves", fmt.Sprint(res.UnexpectedExits), "0", res.UnexpectedExits == 0)
	rp.Check("tasks given up by asynq (archived)", fmt.Sprint(archived), "0", archived == 0)
	var inj []string
	for _, p := range providerNames() {
		m := r.fr.injected(p)
		inj = append(inj, fmt.Sprintf("%s %d×429 %d×5xx", p, m["429"], m["5xx"]))
	}
	rp.Info("faults the sandbox served", "%s", strings.Join(inj, "; "))
	rp.Info("enqueues retried by the producer", "%d (Send failed while Redis was down; retried with the same id)", r.enqRetries.Load())
	res.Elapsed = time.Since(r.ws.Start)
	res.Settle = time.Since(r.t0)
	rp.Elapsed = res.Elapsed
	rp.Info("time", "total %s; traffic start to everything settled and stopped %s", res.Elapsed.Round(100*time.Millisecond), res.Settle.Round(100*time.Millisecond))

	rp.Notes = append(rp.Notes, "timeline (from the traffic start):")
	for _, e := range events {
		rp.Notes = append(rp.Notes, "  "+e)
	}
	if len(crashes) > 0 {
		rp.Notes = append(rp.Notes, "processes that exited by themselves:")
		for _, c := range crashes {
			rp.Notes = append(rp.Notes, "  "+c)
		}
	}
	if len(stuckSingles) > 0 && res.Stuck == 0 {
		rp.Notes = append(rp.Notes, "unsettled at the deadline but settled when counted: "+strings.Join(firstN(stuckSingles, 10), ", "))
	}
	if len(dups.lines) > 0 {
		rp.Notes = append(rp.Notes, "duplicates:")
		for _, l := range dups.lines {
			rp.Notes = append(rp.Notes, "  "+l)
		}
		if dups.more > 0 {
			rp.Notes = append(rp.Notes, fmt.Sprintf("  … and %d more", dups.more))
		}
	}
	if len(probs.lines) > 0 {
		rp.Notes = append(rp.Notes, "problems:")
		for _, l := range probs.lines {
			rp.Notes = append(rp.Notes, "  "+l)
		}
		if probs.more > 0 {
			rp.Notes = append(rp.Notes, fmt.Sprintf("  … and %d more", probs.more))
		}
	}
	return res, nil
}

// stateAt is the state a history shows at t: that of its latest entry
// not after t ("" before the first).
func stateAt(h []ledger.Transition, t time.Time) ledger.State {
	var st ledger.State
	for _, e := range h {
		if e.At.After(t) {
			break
		}
		st = e.State
	}
	return st
}

// dupRun is a run of consecutive campaign recipients received alike.
type dupRun struct {
	lo, hi int // recipient indices, inclusive
	times  int
	marked bool
	where  string
}

func (d dupRun) String() string {
	who := fmt.Sprintf("campaign recipient %d", d.lo)
	if d.hi > d.lo {
		who = fmt.Sprintf("campaign recipients %d–%d (%d)", d.lo, d.hi, d.hi-d.lo+1)
	}
	return fmt.Sprintf("%s: received %d times; %s; in \"sending\" after %s", who, d.times, markText(d.marked, "marked unknown"), d.where)
}

// groupDups merges consecutive recipients with the same story.
func groupDups(ds []dupRun) []dupRun {
	var out []dupRun
	for _, d := range ds {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.hi+1 == d.lo && last.times == d.times && last.marked == d.marked && last.where == d.where {
				last.hi = d.hi
				continue
			}
		}
		out = append(out, d)
	}
	return out
}

func markText(marked bool, yes string) string {
	if marked {
		return yes
	}
	return "NOT MARKED UNKNOWN"
}

func stateList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func firstN(s []string, n int) []string {
	sort.Strings(s)
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("… %d more", len(s)-n))
	}
	return s
}
