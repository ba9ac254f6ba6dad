package proof

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sandbox/hub"
	"github.com/smsq/smsq/sms"
	"github.com/smsq/smsq/tasks"
)

// KillMode says whether the scale-out proof kills a worker with SIGKILL.
type KillMode int

const (
	// KillAuto kills in full runs and not in quick ones: a killed worker's
	// task comes back only after asynq's lease and recovery (≥ 60 s).
	KillAuto KillMode = iota
	// KillYes always kills one worker during a provider call.
	KillYes
	// KillNo never kills.
	KillNo
)

// ScaleOutOptions configure the scale-out proof. Zero fields take the
// defaults named; quick-mode defaults are in brackets.
type ScaleOutOptions struct {
	Common
	// Workers is how many worker processes run. Default 3.
	Workers int `koanf:"workers"`
	// Schedulers is how many scheduler processes run. Default 2.
	Schedulers int `koanf:"schedulers"`
	// Recipients is the campaign's size. Default 20,000 [3,000].
	Recipients int `koanf:"recipients"`
	// Singles is how many single sends go out beside it. Default 1,500
	// [300].
	Singles int `koanf:"singles"`
	// CampaignRate is Conectaline's limit in messages per second (its
	// throttle counts messages: one push/multiple call of 1000 costs
	// 1000). Default 1000 [500].
	CampaignRate int `koanf:"campaign_rate"`
	// SingleRate is Keccel's limit in requests per second. Default 50 [30].
	SingleRate int `koanf:"single_rate"`
	// Kill: whether one worker is killed with SIGKILL during a provider
	// call. Default KillAuto.
	Kill KillMode `koanf:"kill"`
	// Hold is how long the sandbox holds its answer to an accepted
	// Conectaline call (a provider's round trip), which gives the SIGKILL
	// a call to land in. Default 200ms.
	Hold time.Duration `koanf:"hold"`
	// Timeout bounds the wait for every message to be sent. Default 5m.
	Timeout time.Duration `koanf:"timeout"`
}

func (o ScaleOutOptions) withDefaults() ScaleOutOptions {
	pick := func(v *int, full, quick int) {
		if *v == 0 {
			*v = full
			if o.Quick {
				*v = quick
			}
		}
	}
	pick(&o.Workers, 3, 3)
	pick(&o.Schedulers, 2, 2)
	pick(&o.Recipients, 20_000, 3_000)
	pick(&o.Singles, 1_500, 300)
	pick(&o.CampaignRate, 1000, 500)
	pick(&o.SingleRate, 50, 30)
	if o.Kill == KillAuto {
		o.Kill = KillYes
		if o.Quick {
			o.Kill = KillNo
		}
	}
	if o.Hold == 0 {
		o.Hold = 200 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	return o
}

// Validate names the first bad option.
func (o ScaleOutOptions) Validate() error {
	switch {
	case o.Workers < 0 || o.Workers > 32:
		return errors.New("proof: workers: want 1..32")
	case o.Schedulers < 0 || o.Schedulers > 8:
		return errors.New("proof: schedulers: want 1..8")
	case o.Recipients < 0 || o.Recipients > 1_000_000:
		return errors.New("proof: recipients: want 1..1,000,000")
	case o.Singles < 0 || o.Singles > 1_000_000:
		return errors.New("proof: singles: want 1..1,000,000")
	case o.CampaignRate < 0, o.SingleRate < 0:
		return errors.New("proof: campaign_rate, single_rate: must be positive")
	case o.Hold < 0 || o.Timeout < 0:
		return errors.New("proof: hold, timeout: must not be negative")
	}
	return nil
}

// ScaleOutResult is what the scale-out proof found.
type ScaleOutResult struct {
	Report *Report
	// Campaign figures: recipients, those smsq recorded submitted, those
	// the provider never received, destinations it received that were
	// not recipients, extra receptions (a destination received n times
	// counts n-1), recipients smsq marked unknown and sent again, and the
	// size of the call in flight at SIGKILL (0 without a kill).
	Recipients, CampaignSubmitted, CampaignMissing, CampaignUnexpected, CampaignExtra int
	CampaignResent, KilledBatch                                                       int
	// Single-send figures, likewise; SinglesUnknown counts ledger records
	// whose history shows "unknown".
	Singles, SinglesSubmitted, SinglesMissing, SinglesExtra, SinglesUnknown int
	// Restarts and Kills count the disruptions made.
	Restarts, Kills int

	workerCreated int // single-send records whose first entry a worker wrote
}

// scaleEnviron is the configuration (SMSQ_* variables) of every process
// of the scale-out proof; root is the sandbox root the process uses.
func scaleEnviron(redisURL, root string, o ScaleOutOptions) []string {
	env := append(harness.BaseEnv(10*time.Second), "SMSQ_REDIS__URL="+redisURL)
	env = append(env, harness.ProviderEnv(root, "keccel", o.SingleRate)...)
	return append(env, harness.ProviderEnv(root, "conectaline", o.CampaignRate)...)
}

// ScaleOut runs the scale-out proof and prints its report. It returns
// ErrFailed (with the result) when a check fails, and other errors when
// the run could not be made.
func ScaleOut(ctx context.Context, o ScaleOutOptions) (*ScaleOutResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, ErrNoRedis
	}
	fmt.Fprintf(o.Output(), "scale-out proof: building cmd/worker and cmd/scheduler…\n")
	r, cleanup, err := newRun(ctx, o.Common, "scaleout", "worker", "scheduler")
	if err != nil {
		return nil, err
	}
	defer cleanup()

	rs, err := harness.StartRedis(ctx, r.Dir, harness.RedisOptions{AppendFsync: "everysec"})
	if err != nil {
		return nil, err
	}
	defer rs.Stop(syscall.SIGTERM, 10*time.Second)
	ho := hub.Options{KeepMessages: false}
	ho.Keccel.Balance = 100_000_000
	fr, err := startFront(ho, o.Hold)
	if err != nil {
		return nil, err
	}
	defer fr.Close()
	redisURL := "redis://" + rs.Addr + "/0"
	conn, err := harness.Connect(scaleEnviron(redisURL, fr.Root, o))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	client, ins, store := conn.Client, conn.Inspector, conn.Store
	r.Logf("redis-server %s (AOF on) at %s; sandbox at %s", rs.Version(ctx), rs.Addr, fr.Root)

	fl := newFleet(r, ins, func(label string) []string {
		return scaleEnviron(redisURL, fr.rootFor(label), o)
	})
	defer fl.StopAll(20 * time.Second)
	for i := 0; i < o.Workers; i++ {
		if _, err := fl.StartWorker(ctx, i); err != nil {
			return nil, err
		}
	}
	for i := 0; i < o.Schedulers; i++ {
		if _, err := fl.StartScheduler(ctx); err != nil {
			return nil, err
		}
	}
	r.Logf("%d worker and %d scheduler processes up", o.Workers, o.Schedulers)

	// The campaign, created as `enqueue campaign create` does.
	numbers := make([]string, o.Recipients)
	var csv strings.Builder
	csv.WriteString("phone,name,code\n")
	for i := range numbers {
		numbers[i] = sms.ExampleNumber("ES", i)
		fmt.Fprintf(&csv, "%s,Cliente %d,%04d\n", numbers[i], i, i%10000)
	}
	t0 := time.Now()
	rep, err := conn.CreateCampaign(ctx, campaign.Definition{
		Name: "scale-out proof", Provider: "conectaline", Message: "Hola {{name}}, su código es {{code}}",
	}, csv.String())
	if err != nil {
		return nil, fmt.Errorf("create campaign: %w", err)
	}
	if rep.Sendable != o.Recipients {
		return nil, fmt.Errorf("create campaign: %d of %d recipients sendable (bad %d, duplicates %d)", rep.Sendable, o.Recipients, rep.Bad, rep.Duplicates)
	}
	r.Logf("campaign %s created: %d recipients in %d blocks (%s)", rep.ID, rep.Sendable, rep.Blocks, secs(time.Since(t0)))

	singles := make([]tasks.SendRequest, o.Singles)
	singleTo := map[string]string{} // digits → message id
	for i := range singles {
		to := sms.ExampleNumber("CD", i)
		singles[i] = tasks.SendRequest{ID: fmt.Sprintf("scale-%06d", i), Provider: "keccel", To: to, Text: fmt.Sprintf("Code %04d", i%10000)}
		singleTo[harness.Digits(to)] = singles[i].ID
	}
	t0 = time.Now()
	freshDups, err := sendAll(ctx, client, singles)
	if err != nil {
		return nil, err
	}
	r.Logf("%d single sends enqueued (%s)", len(singles), secs(time.Since(t0)))

	// Disruptions run beside the traffic.
	var victim call
	var disruptErr error
	disrupted := make(chan struct{})
	campaignDone := func() bool {
		c, err := store.Get(ctx, rep.ID)
		return err == nil && c.State.Final()
	}
	dctx, stopDisrupt := context.WithCancel(ctx)
	defer stopDisrupt()
	go func() {
		defer close(disrupted)
		disruptErr = disrupt(dctx, o, fl, fr, campaignDone, &victim)
	}()

	// Wait until the campaign is done and every single send is recorded.
	t0 = time.Now()
	waitErr := harness.WaitFor(ctx, o.Timeout, 500*time.Millisecond, "every message sent", func() bool {
		select {
		case <-disrupted:
		default:
			return false
		}
		if !campaignDone() {
			return false
		}
		return len(perDestination(fr.accepted("keccel"))) >= len(singles) && singlesSettled(ctx, client.Ledger(), singles)
	})
	// Past this point nothing may touch the fleet but this goroutine.
	stopDisrupt()
	<-disrupted
	if disruptErr != nil && (waitErr == nil || !errors.Is(disruptErr, context.Canceled)) {
		return nil, fmt.Errorf("disruption: %w", disruptErr)
	}
	if errors.Is(waitErr, context.Canceled) {
		return nil, waitErr
	}
	if waitErr == nil {
		r.Logf("everything sent %s after enqueueing; settling", secs(time.Since(t0)))
		_ = harness.Sleep(ctx, time.Second)
	}
	res, err := scaleReport(ctx, o, r, fl, fr, conn, rep.ID, numbers, singles, singleTo, victim, waitErr)
	if err != nil {
		return nil, err
	}
	if freshDups > 0 {
		res.Report.Info("enqueues answered \"duplicate\" for a fresh id", "%d; %d ledger records were first written by a worker: tasks.Client.Send queues the task before it writes the record, a worker took the task in between and rebuilt the record from it, so Send found one (each message still exists and was sent once)",
			freshDups, res.workerCreated)
	}
	printReport(o.Output(), res.Report, o.Markdown)
	if !res.Report.OK() {
		return res, ErrFailed
	}
	return res, nil
}

// sendAll enqueues reqs through the producer API from a few goroutines.
// It returns how many fresh ids were answered "duplicate" (see
// scaleReport: a worker can take the task before the producer records it).
func sendAll(ctx context.Context, c *tasks.Client, reqs []tasks.SendRequest) (int, error) {
	var dups atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, req := range reqs {
		g.Go(func() error {
			acc, err := c.Send(ctx, req)
			if err != nil {
				return fmt.Errorf("enqueue %s: %w", req.ID, err)
			}
			if acc.Duplicate {
				dups.Add(1)
			}
			return nil
		})
	}
	err := g.Wait()
	return int(dups.Load()), err
}

// disrupt restarts each worker in turn with SIGTERM, then kills one with
// SIGKILL while the provider holds the answer to a call it made.
func disrupt(ctx context.Context, o ScaleOutOptions, fl *fleet, fr *front, campaignDone func() bool, victim *call) error {
	first, gap := 3*time.Second, 2*time.Second
	if o.Quick {
		first, gap = 1500*time.Millisecond, time.Second
	}
	if err := harness.Sleep(ctx, first); err != nil {
		return err
	}
	for slot := range fl.Slots() {
		if err := fl.restart(ctx, slot, syscall.SIGTERM, 0); err != nil {
			return err
		}
		if err := harness.Sleep(ctx, gap); err != nil {
			return err
		}
	}
	if o.Kill != KillYes {
		return nil
	}
	// Aim at a call the provider has accepted and not yet answered, with
	// time left for the signal to land before the answer goes out.
	margin := min(o.Hold/2, 100*time.Millisecond)
	var target call
	for {
		if c, ok := fr.heldCall(margin); ok {
			if slot, ok := harness.SlotOf(c.label); ok && c.label == fl.current(slot) {
				target = c
				break
			}
		}
		if campaignDone() {
			break
		}
		if err := harness.Sleep(ctx, 2*time.Millisecond); err != nil {
			return err
		}
	}
	slot := 0
	if target.label != "" {
		slot, _ = harness.SlotOf(target.label)
		*victim = target
		fl.event("aiming SIGKILL at %s: the provider accepted its call of %d messages and holds the answer", target.label, len(target.to))
	} else {
		fl.event("no provider call in flight to aim at (campaign done); killing worker 0 anyway")
	}
	return fl.restart(ctx, slot, syscall.SIGKILL, 2*time.Second)
}

// singlesSettled reports whether every single send has a final state.
func singlesSettled(ctx context.Context, l *ledger.Ledger, reqs []tasks.SendRequest) bool {
	for _, req := range reqs {
		rec, err := l.Get(ctx, req.ID)
		if err != nil || !(rec.State == ledger.Submitted || rec.State.Final()) {
			return false
		}
	}
	return true
}

// logCount sums, over every process log, the JSON lines whose message
// starts with prefix: how many there are and the sum of their field
// (when field is not "").
func logCount(fl *fleet, prefix, field string) (lines, sum int) {
	for _, p := range fl.All() {
		p.LogLines(func(b []byte) {
			var m map[string]any
			if json.Unmarshal(b, &m) != nil {
				return
			}
			msg, _ := m["message"].(string)
			if !strings.HasPrefix(msg, prefix) {
				return
			}
			lines++
			if n, ok := m[field].(float64); ok {
				sum += int(n)
			}
		})
	}
	return lines, sum
}

func scaleReport(ctx context.Context, o ScaleOutOptions, r *run, fl *fleet, fr *front, conn *harness.Conn, campaignID string, numbers []string, singles []tasks.SendRequest, singleTo map[string]string,
	victim call, waitErr error) (*ScaleOutResult, error) {
	res := &ScaleOutResult{Recipients: len(numbers), Singles: len(singles), KilledBatch: len(victim.to)}
	rp := &Report{Title: "scale-out proof", Elapsed: time.Since(r.Start)}
	res.Report = rp
	store, led := conn.Store, conn.Client.Ledger()
	rp.Setup = []string{
		r.machine(),
		fmt.Sprintf("one redis-server (AOF on, loopback); %d worker processes (concurrency 20, shutdown_timeout 10s) and %d scheduler processes; provider sandbox in this process",
			o.Workers, o.Schedulers),
		fmt.Sprintf("campaign: %d recipients, Conectaline push/multiple (1000 per call), limit %d messages/s; the sandbox answers %s after accepting a call",
			len(numbers), o.CampaignRate, o.Hold),
		fmt.Sprintf("single sends: %d through tasks.Client, Keccel, limit %d/s", len(singles), o.SingleRate),
	}
	switch o.Kill {
	case KillYes:
		rp.Setup = append(rp.Setup, "disruptions: each worker stopped with SIGTERM and restarted in turn, then one killed with SIGKILL during a provider call")
	default:
		rp.Setup = append(rp.Setup, "disruptions: each worker stopped with SIGTERM and restarted in turn (no SIGKILL in this run)")
	}
	if waitErr != nil {
		rp.Check("completion", waitErr.Error(), "everything sent", false)
	}

	// Campaign: smsq's records against the provider's.
	c, err := store.Get(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	res.CampaignSubmitted = int(c.Counts[campaign.Submitted.String()])
	res.CampaignResent = int(c.Resent)
	conCalls := fr.accepted("conectaline")
	conSeen := perDestination(conCalls)
	want := map[string]bool{}
	for _, n := range numbers {
		want[harness.Digits(n)] = true
	}
	var dupDests []string
	for d, n := range conSeen {
		switch {
		case !want[d]:
			res.CampaignUnexpected++
		case n > 1:
			res.CampaignExtra += n - 1
			dupDests = append(dupDests, d)
		}
	}
	for d := range want {
		if conSeen[d] == 0 {
			res.CampaignMissing++
		}
	}
	inVictim := map[string]bool{}
	for _, d := range victim.to {
		inVictim[d] = true
	}
	outside := 0
	for _, d := range dupDests {
		if !inVictim[d] {
			outside++
		}
	}
	states := []string{}
	for _, s := range campaign.RecipientStates() {
		if n := c.Counts[s.String()]; n > 0 {
			states = append(states, fmt.Sprintf("%s %d", s, n))
		}
	}
	rp.Check("campaign state", string(c.State), "done", c.State == campaign.Done)
	rp.Check("campaign recipients recorded submitted", fmt.Sprintf("%d of %d (%s)", res.CampaignSubmitted, len(numbers), strings.Join(states, ", ")),
		"all", res.CampaignSubmitted == len(numbers))
	rp.Check("recipients the provider never received", fmt.Sprint(res.CampaignMissing), "0", res.CampaignMissing == 0)
	rp.Check("destinations received that are not recipients", fmt.Sprint(res.CampaignUnexpected), "0", res.CampaignUnexpected == 0)
	_, loggedResent := logCount(fl, "a previous run stopped during provider calls", "recipients")
	dupValue := fmt.Sprintf("%d recipients received twice", res.CampaignExtra)
	if len(victim.to) > 0 {
		dupValue += fmt.Sprintf(", %d of them outside the call in flight at SIGKILL", outside)
	}
	rp.Check("campaign duplicates", dupValue, "only the call in flight at SIGKILL", outside == 0 && (len(victim.to) > 0 || res.CampaignExtra == 0))
	rp.Check("recipients marked unknown and sent again", fmt.Sprintf("%d (campaign resent counter; worker logs say %d)", res.CampaignResent, loggedResent),
		"= recipients received twice", res.CampaignResent == res.CampaignExtra && loggedResent == res.CampaignResent)
	if len(victim.to) > 0 {
		resentAfter := "never"
		for _, c := range conCalls {
			if c.id != victim.id && c.at.After(victim.at) && len(c.to) > 0 && inVictim[c.to[0]] {
				resentAfter = secs(c.at.Sub(victim.at)) + " later by " + c.label
				break
			}
		}
		rp.Info("call in flight at SIGKILL", "%d recipients from %s, accepted by the provider, answer not yet read; sent again %s (asynq recovers a dead worker's task once its lease has expired)",
			len(victim.to), victim.label, resentAfter)
	}

	// Single sends: the ledger against the provider's.
	kecCalls := fr.accepted("keccel")
	kecSeen := perDestination(kecCalls)
	ledgerStates := map[ledger.State]int{}
	unknown := map[string]bool{} // ids whose history shows unknown
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, req := range singles {
		g.Go(func() error {
			rec, err := led.Get(gctx, req.ID)
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, ledger.ErrNotFound) {
				ledgerStates["missing"]++
				return nil
			}
			if err != nil {
				return err
			}
			ledgerStates[rec.State]++
			if len(rec.History) > 0 && rec.History[0].Source == ledger.SourceWorker {
				res.workerCreated++
			}
			for _, h := range rec.History {
				if h.State == ledger.Unknown {
					unknown[req.ID] = true
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	res.SinglesSubmitted = ledgerStates[ledger.Submitted] + ledgerStates[ledger.Delivered]
	res.SinglesUnknown = len(unknown)
	unmarkedDup := 0
	unexpected := 0
	for d, n := range kecSeen {
		id, ok := singleTo[d]
		switch {
		case !ok:
			unexpected++
		case n > 1:
			res.SinglesExtra += n - 1
			if !unknown[id] {
				unmarkedDup++
			}
		}
	}
	for d := range singleTo {
		if kecSeen[d] == 0 {
			res.SinglesMissing++
		}
	}
	var ls []string
	for s, n := range ledgerStates {
		ls = append(ls, fmt.Sprintf("%s %d", s, n))
	}
	sort.Strings(ls)
	rp.Check("single sends recorded submitted (ledger)", fmt.Sprintf("%d of %d (%s)", res.SinglesSubmitted, len(singles), strings.Join(ls, ", ")),
		"all", res.SinglesSubmitted == len(singles))
	rp.Check("single sends the provider never received", fmt.Sprint(res.SinglesMissing), "0", res.SinglesMissing == 0)
	rp.Check("destinations received that were never sent", fmt.Sprint(unexpected), "0", unexpected == 0)
	rp.Check("single sends received twice", fmt.Sprintf("%d (%d without an unknown mark)", res.SinglesExtra, unmarkedDup),
		"only those marked unknown", unmarkedDup == 0)
	rp.Info("single sends marked unknown", "%d (%d of them reached the provider twice; the rest were cut before their first call arrived)",
		res.SinglesUnknown, res.SinglesExtra)

	// Rates as the provider saw them.
	kr := rates(kecCalls, func(call) int { return 1 }, float64(o.SingleRate))
	kb := sustainedBound(o.SingleRate, 1)
	rp.Check("keccel sustained rate", fmt.Sprintf("%d in the busiest %s; mean %.1f/s over %d calls", kr.maxSustained, sustainedWindow, kr.mean, kr.calls),
		fmt.Sprintf("≤ %d = %d/s × (%s + %s late) + 1 call", kb, o.SingleRate, sustainedWindow, lateness), kr.maxSustained <= kb && kr.meanOK())
	rp.Info("keccel per second", "max %d in one whole second, %d in the busiest 1 s window (from %s)", kr.maxPerSecond, kr.maxSecond, r.at(kr.maxSecondAt))
	cr := rates(conCalls, func(c call) int { return len(c.to) }, float64(o.CampaignRate))
	cb := sustainedBound(o.CampaignRate, cr.maxCallUnits)
	rp.Check("conectaline sustained rate", fmt.Sprintf("%d messages in the busiest %s; mean %.0f/s over %d calls", cr.maxSustained, sustainedWindow, cr.mean, cr.calls),
		fmt.Sprintf("≤ %d = %d/s × (%s + %s late) + 1 call", cb, o.CampaignRate, sustainedWindow, lateness), cr.maxSustained <= cb && cr.meanOK())
	rp.Info("conectaline per second", "max %d messages in one whole second, %d in the busiest 1 s window (from %s)", cr.maxPerSecond, cr.maxSecond, r.at(cr.maxSecondAt))
	rp.Info("conectaline spacing", "shortest gap between calls %s (the call before it cost %s at the limit)", secs(cr.minGap), secs(cr.minGapNeeded))
	if kr.maxSecond > o.SingleRate || cr.maxSecond > o.CampaignRate {
		rp.Note("a 1 s window above the limit holds calls that reached the provider after their booked slot (a re-scheduled task back late, a stalled process) together with calls on time (see docs/proofs.md)")
	}
	if len(conCalls) > 1 {
		span := conCalls[len(conCalls)-1].at.Sub(conCalls[0].at)
		rp.Info("campaign send time", "%s from first to last call (%d calls)", secs(span), len(conCalls))
	}

	archived := conn.Archived()
	rp.Check("tasks given up (archived)", fmt.Sprint(archived), "0", archived == 0)

	// Who did the work.
	type share struct{ keccel, conectaline int }
	by := map[string]*share{}
	for _, c := range kecCalls {
		if by[c.label] == nil {
			by[c.label] = &share{}
		}
		by[c.label].keccel++
	}
	for _, c := range conCalls {
		if by[c.label] == nil {
			by[c.label] = &share{}
		}
		by[c.label].conectaline += len(c.to)
	}
	var labels []string
	for l := range by {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	var parts []string
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s %d+%d", l, by[l].keccel, by[l].conectaline))
	}
	rp.Info("messages per worker process", "%s (keccel+conectaline; wNgM = slot N, generation M)", strings.Join(parts, ", "))
	for _, e := range fl.eventLines() {
		rp.Note("%s", e)
	}
	res.Restarts, res.Kills = fl.terms, fl.kills
	return res, nil
}
