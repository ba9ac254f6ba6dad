package proof

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sandbox/hub"
	"github.com/smsq/smsq/sms"
	"github.com/smsq/smsq/tasks"
)

// FailoverOptions configure the Sentinel failover proof. Zero fields take
// the defaults named; quick-mode defaults are in brackets.
type FailoverOptions struct {
	Common
	// Workers is how many worker processes run. Default 1.
	Workers int `koanf:"workers"`
	// SendRate is how many single sends per second the producer attempts.
	// Default 100 [50].
	SendRate float64 `koanf:"send_rate"`
	// Before and After are how long the stream runs before and after the
	// master is killed. Defaults 10s and 20s [4s and 10s].
	Before time.Duration `koanf:"before"`
	After  time.Duration `koanf:"after"`
	// Drain bounds the wait, after the stream, for accepted messages to be
	// sent. Default 2m [45s].
	Drain time.Duration `koanf:"drain"`
}

func (o FailoverOptions) withDefaults() FailoverOptions {
	pickD := func(v *time.Duration, full, quick time.Duration) {
		if *v == 0 {
			*v = full
			if o.Quick {
				*v = quick
			}
		}
	}
	if o.Workers == 0 {
		o.Workers = 1
	}
	if o.SendRate == 0 {
		o.SendRate = 100
		if o.Quick {
			o.SendRate = 50
		}
	}
	pickD(&o.Before, 10*time.Second, 4*time.Second)
	pickD(&o.After, 20*time.Second, 10*time.Second)
	pickD(&o.Drain, 2*time.Minute, 45*time.Second)
	return o
}

// Validate names the first bad option.
func (o FailoverOptions) Validate() error {
	switch {
	case o.Workers < 0 || o.Workers > 16:
		return errors.New("proof: workers: want 1..16")
	case o.SendRate < 0 || o.SendRate > 2000:
		return errors.New("proof: send_rate: want 1..2000 per second")
	case o.Before < 0 || o.After < 0 || o.Drain < 0:
		return errors.New("proof: before, after, drain: must not be negative")
	}
	return nil
}

// FailoverResult is what the failover proof found.
type FailoverResult struct {
	Report *Report
	// OldMaster and NewMaster are the master's address before the kill
	// and the one the Sentinels promoted.
	OldMaster, NewMaster string
	// Promotion is kill → the Sentinels name the new master;
	// ProducerRecovery kill → the first accepted send started after the
	// kill; DeliveryRecovery kill → the provider receives the first message
	// enqueued after the kill.
	Promotion, ProducerRecovery, DeliveryRecovery time.Duration
	// Attempted sends, Accepted (the producer got an id) and Refused (the
	// producer got an error), with Accepted split around the kill.
	Attempted, Accepted, Refused, AcceptedBefore, AcceptedAfter int
	// SentBefore and SentAfter are provider receptions around the kill.
	SentBefore, SentAfter int
	// Of the accepted messages: LedgerMissing have no ledger record after
	// the failover; Lost were never sent and nothing will send them;
	// Unsettled were not sent within the drain but are still queued.
	LedgerMissing, Lost, Unsettled int
	// Extra receptions by the provider (a destination received n times
	// counts n-1), and those without an "unknown" mark in the ledger.
	Extra, ExtraUnmarked int
	// Of the refused sends, retried once with the same id after recovery:
	// RetryCreated were queued then, RetryExisting had been queued despite
	// the error (the retry found them), RetryFailed were refused again.
	RetryCreated, RetryExisting, RetryFailed int
	// AfterRecoveryExact: every message accepted after recovery was sent
	// exactly once.
	AfterRecoveryExact bool
}

const sentinelMaster = "smsq"

// failEnviron is the configuration of every process of the failover
// proof.
func failEnviron(sentinels []string, root string) []string {
	env := append(harness.BaseEnv(10*time.Second),
		"SMSQ_REDIS__SENTINEL__MASTER_NAME="+sentinelMaster,
		"SMSQ_REDIS__SENTINEL__ADDRS="+strings.Join(sentinels, ","))
	return append(env, harness.ProviderEnv(root, "keccel", 1000)...)
}

// topology is the master, the replica and the Sentinels.
type topology struct {
	master, replica *harness.Redis
	sentinels       []*harness.Redis
}

func (t *topology) sentinelAddrs() []string {
	out := make([]string, len(t.sentinels))
	for i, s := range t.sentinels {
		out[i] = s.Addr
	}
	return out
}

func (t *topology) stop() {
	for _, p := range append([]*harness.Redis{t.master, t.replica}, t.sentinels...) {
		if p != nil {
			p.Stop(syscall.SIGTERM, 5*time.Second)
		}
	}
}

// startTopology starts a master, a replica of it and three Sentinels
// (quorum 2, down after 1 s, failover timeout 3 s) and waits until every
// Sentinel knows the replica and the other two.
func startTopology(ctx context.Context, r *run) (*topology, error) {
	t := &topology{}
	ok := false
	defer func() {
		if !ok {
			t.stop()
		}
	}()
	var err error
	if t.master, err = harness.StartRedis(ctx, r.Dir, harness.RedisOptions{Name: "redis-a", AppendFsync: "everysec"}); err != nil {
		return nil, err
	}
	if t.replica, err = harness.StartRedis(ctx, r.Dir, harness.RedisOptions{Name: "redis-b", AppendFsync: "everysec", ReplicaOf: t.master.Addr}); err != nil {
		return nil, err
	}
	rc := t.replica.Client()
	defer rc.Close()
	if err := harness.WaitFor(ctx, 15*time.Second, 50*time.Millisecond, "replica linked to master", func() bool {
		return harness.InfoField(ctx, rc, "replication", "master_link_status") == "up"
	}); err != nil {
		return nil, err
	}
	for i := 0; i < 3; i++ {
		s, err := harness.StartSentinel(ctx, r.Dir, harness.SentinelOptions{Name: fmt.Sprintf("sentinel-%d", i),
			MasterName: sentinelMaster, MasterAddr: t.master.Addr, Quorum: 2, DownAfter: time.Second, FailoverTimeout: 3 * time.Second})
		if err != nil {
			return nil, err
		}
		t.sentinels = append(t.sentinels, s)
	}
	for _, s := range t.sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
		err := harness.WaitFor(ctx, 30*time.Second, 100*time.Millisecond, "sentinel "+s.Name()+" sees the replica and the other sentinels", func() bool {
			m, err := sc.Master(ctx, sentinelMaster).Result()
			return err == nil && m["num-slaves"] == "1" && m["num-other-sentinels"] == "2" && m["flags"] == "master"
		})
		sc.Close()
		if err != nil {
			return nil, err
		}
	}
	ok = true
	return t, nil
}

// sendOutcome is one producer call.
type sendOutcome struct {
	req        tasks.SendRequest
	start, end time.Time
	err        error
}

// Failover runs the Sentinel failover proof and prints its report. It
// returns ErrFailed (with the result) when a check fails.
func Failover(ctx context.Context, o FailoverOptions) (*FailoverResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, ErrNoRedis
	}
	if _, err := exec.LookPath("redis-sentinel"); err != nil {
		return nil, ErrNoSentinel
	}
	fmt.Fprintf(o.Output(), "failover proof: building cmd/worker…\n")
	r, cleanup, err := newRun(ctx, o.Common, "failover", "worker")
	if err != nil {
		return nil, err
	}
	defer cleanup()

	topo, err := startTopology(ctx, r)
	if err != nil {
		return nil, err
	}
	defer topo.stop()
	r.Logf("redis %s: master %s, replica %s, sentinels %s (quorum 2, down-after 1000 ms, failover-timeout 3000 ms)",
		topo.master.Version(ctx), topo.master.Addr, topo.replica.Addr, strings.Join(topo.sentinelAddrs(), " "))

	ho := hub.Options{KeepMessages: false}
	ho.Keccel.Balance = 100_000_000
	fr, err := startFront(ho, 0)
	if err != nil {
		return nil, err
	}
	defer fr.Close()
	conn, err := harness.Connect(failEnviron(topo.sentinelAddrs(), fr.Root))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	client, ins := conn.Client, conn.Inspector

	fl := newFleet(r, ins, func(label string) []string {
		return failEnviron(topo.sentinelAddrs(), fr.rootFor(label))
	})
	defer fl.StopAll(20 * time.Second)
	for i := 0; i < o.Workers; i++ {
		if _, err := fl.StartWorker(ctx, i); err != nil {
			return nil, err
		}
	}
	r.Logf("%d worker process(es) up, connected through the sentinels", o.Workers)

	// The stream: one attempt every 1/SendRate, each in its own goroutine
	// so that a slow call during the failover does not slow the stream.
	var (
		mu       sync.Mutex
		outcomes []sendOutcome
		wg       sync.WaitGroup
	)
	streamStart := time.Now()
	killAt := streamStart.Add(o.Before)
	end := killAt.Add(o.After)
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.SendRate))
	n := 0
	type promotion struct {
		addr string
		at   time.Time
	}
	promoted := make(chan promotion, 1)
	killed := false
	lag := ""
	for now := range tick.C {
		if ctx.Err() != nil {
			break
		}
		if !killed && !now.Before(killAt) {
			killed = true
			lag = replicationLag(ctx, topo)
			killAt = time.Now()
			topo.master.Kill()
			fl.event("SIGKILL the Redis master %s (%d sends accepted so far)", topo.master.Addr, countAccepted(&mu, &outcomes))
			go func(killAt time.Time) {
				addr, at := watchPromotion(ctx, topo.sentinels[0].Addr, topo.master.Addr)
				if addr != "" {
					fl.event("sentinels name %s the new master, %s after the kill", addr, secs(at.Sub(killAt)))
				}
				promoted <- promotion{addr, at}
			}(killAt)
		}
		if now.After(end) {
			break
		}
		req := tasks.SendRequest{ID: fmt.Sprintf("fo-%06d", n), Provider: "keccel", To: sms.ExampleNumber("CD", n), Text: fmt.Sprintf("Code %04d", n%10000)}
		n++
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			out := sendOutcome{req: req, start: time.Now()}
			_, out.err = client.Send(cctx, req)
			out.end = time.Now()
			mu.Lock()
			outcomes = append(outcomes, out)
			mu.Unlock()
		}()
	}
	tick.Stop()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var pr promotion
	select {
	case pr = <-promoted:
	case <-time.After(35 * time.Second):
	}
	promotedAt, newMaster := pr.at, pr.addr
	sort.Slice(outcomes, func(i, j int) bool { return outcomes[i].req.ID < outcomes[j].req.ID })
	r.Logf("stream ended: %d attempted, %d accepted", len(outcomes), countAccepted(&mu, &outcomes))

	// A producer that got an error retries with the same id. Whether the
	// refused send had been queued anyway is judged before the retry, from
	// the ledger, the queue and the provider: Send's own Duplicate flag
	// also says so when a worker took the fresh task before Send recorded it.
	retry := map[string]string{} // id → created | existing | failed
	for _, out := range outcomes {
		if out.err == nil {
			continue
		}
		_, lerr := client.Ledger().Get(ctx, out.req.ID)
		existed := lerr == nil || taskQueued(ins, out.req.ID) || len(fr.seenOf("keccel", harness.Digits(out.req.To))) > 0
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := client.Send(cctx, out.req)
		cancel()
		switch {
		case err != nil:
			retry[out.req.ID] = "failed"
		case existed:
			retry[out.req.ID] = "existing"
		default:
			retry[out.req.ID] = "created"
		}
	}
	if len(retry) > 0 {
		r.Logf("retried %d refused sends with the same id", len(retry))
	}

	// Drain: until every accepted message is settled, or the queues are
	// empty and the provider has seen nothing new for a while.
	expect := 0
	for _, out := range outcomes {
		if out.err == nil || retry[out.req.ID] == "created" || retry[out.req.ID] == "existing" {
			expect++
		}
	}
	lastSeen, lastChange := 0, time.Now()
	drainErr := harness.WaitFor(ctx, o.Drain, 500*time.Millisecond, "accepted messages sent", func() bool {
		seen := len(perDestination(fr.accepted("keccel")))
		if seen != lastSeen {
			lastSeen, lastChange = seen, time.Now()
		}
		if seen >= expect {
			return true
		}
		return time.Since(lastChange) > 5*time.Second && queuesIdle(ins)
	})
	if errors.Is(drainErr, context.Canceled) {
		return nil, drainErr
	}
	_ = harness.Sleep(ctx, time.Second)

	res, err := failReport(ctx, o, r, fl, fr, client.Ledger(), ins, topo, outcomes, retry, killAt, promotedAt, newMaster, lag, drainErr)
	if err != nil {
		return nil, err
	}
	printReport(o.Output(), res.Report, o.Markdown)
	if !res.Report.OK() {
		return res, ErrFailed
	}
	return res, nil
}

func countAccepted(mu *sync.Mutex, outs *[]sendOutcome) int {
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for _, o := range *outs {
		if o.err == nil {
			n++
		}
	}
	return n
}

// replicationLag samples how many bytes of the replication stream the
// replica has not yet received from the master.
func replicationLag(ctx context.Context, t *topology) string {
	mc, rc := t.master.Client(), t.replica.Client()
	defer mc.Close()
	defer rc.Close()
	m := harness.InfoField(ctx, mc, "replication", "master_repl_offset")
	r := harness.InfoField(ctx, rc, "replication", "slave_repl_offset")
	var mo, ro int64
	if _, err := fmt.Sscan(m, &mo); err != nil {
		return "unknown"
	}
	if _, err := fmt.Sscan(r, &ro); err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%d bytes", max(mo-ro, 0))
}

// watchPromotion asks a Sentinel every 20 ms for the master until it names
// one other than old.
func watchPromotion(ctx context.Context, sentinel, old string) (string, time.Time) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
	defer sc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if a, err := sc.GetMasterAddrByName(ctx, sentinelMaster).Result(); err == nil && len(a) == 2 {
			if addr := net.JoinHostPort(a[0], a[1]); addr != old {
				return addr, time.Now()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", time.Time{}
}

// queuesIdle reports whether the send queues hold nothing to run: no
// pending, active, scheduled or retrying task.
func queuesIdle(ins *asynq.Inspector) bool {
	for _, q := range []string{tasks.QueueTransactional, tasks.QueueBulk} {
		qi, err := ins.GetQueueInfo(q)
		if err != nil {
			continue // a queue that never held a task does not exist
		}
		if qi.Pending+qi.Active+qi.Scheduled+qi.Retry > 0 {
			return false
		}
	}
	return true
}

func failReport(ctx context.Context, o FailoverOptions, r *run, fl *fleet, fr *front, led *ledger.Ledger, ins *asynq.Inspector,
	topo *topology, outcomes []sendOutcome, retry map[string]string, killAt, promotedAt time.Time, newMaster, lag string,
	drainErr error) (*FailoverResult, error) {
	res := &FailoverResult{OldMaster: topo.master.Addr, NewMaster: newMaster, Attempted: len(outcomes)}
	rp := &Report{Title: "Sentinel failover proof", Elapsed: time.Since(r.Start)}
	res.Report = rp
	rp.Setup = []string{
		r.machine(),
		"redis-server master + replica (replicaof, asynchronous replication, AOF on) and 3 redis-sentinel (quorum 2, down-after 1000 ms, failover-timeout 3000 ms), all on loopback",
		fmt.Sprintf("smsq configured with redis.sentinel (master_name %q, 3 addrs); %d worker process(es); producer: tasks.Client in this process", sentinelMaster, o.Workers),
		fmt.Sprintf("stream: %.0f single sends/s through Keccel for %s, then SIGKILL of the master, then %s more; refused sends retried once with the same id; drain up to %s",
			o.SendRate, o.Before, o.After, o.Drain),
	}
	if !promotedAt.IsZero() {
		res.Promotion = promotedAt.Sub(killAt)
	}
	rp.Check("new master promoted", fmt.Sprintf("%s → %s, named by the sentinels %s after the kill", topo.master.Addr, orNone(newMaster), secs(res.Promotion)),
		"the replica", newMaster == topo.replica.Addr)

	calls := fr.accepted("keccel")
	seen := perDestination(calls)
	firstSeen := map[string]time.Time{}
	for _, c := range calls {
		for _, d := range c.to {
			if _, ok := firstSeen[d]; !ok {
				firstSeen[d] = c.at
			}
		}
		if c.at.Before(killAt) {
			res.SentBefore += len(c.to)
		} else {
			res.SentAfter += len(c.to)
		}
	}

	var firstRefused, lastRefused time.Time
	for _, out := range outcomes {
		if out.err != nil {
			res.Refused++
			if firstRefused.IsZero() || out.start.Before(firstRefused) {
				firstRefused = out.start
			}
			if out.end.After(lastRefused) {
				lastRefused = out.end
			}
			continue
		}
		res.Accepted++
		if out.end.Before(killAt) {
			res.AcceptedBefore++
		} else {
			res.AcceptedAfter++
		}
		if out.start.After(killAt) {
			if d := out.end.Sub(killAt); res.ProducerRecovery == 0 || d < res.ProducerRecovery {
				res.ProducerRecovery = d
			}
			if at, ok := firstSeen[harness.Digits(out.req.To)]; ok {
				if d := at.Sub(killAt); res.DeliveryRecovery == 0 || d < res.DeliveryRecovery {
					res.DeliveryRecovery = d
				}
			}
		}
	}
	for _, v := range retry {
		switch v {
		case "created":
			res.RetryCreated++
		case "existing":
			res.RetryExisting++
		default:
			res.RetryFailed++
		}
	}

	// Every message the producer holds an id for (accepted at first, or
	// on the retry): its ledger record, its task and its receptions.
	var lostIDs, missingIDs, unsettledIDs, markedIDs, unmarkedIDs []string
	res.AfterRecoveryExact = true
	recovered := killAt.Add(res.ProducerRecovery)
	for _, out := range outcomes {
		rt := retry[out.req.ID]
		if out.err != nil && rt != "created" && rt != "existing" {
			continue
		}
		id, d := out.req.ID, harness.Digits(out.req.To)
		rec, err := led.Get(ctx, id)
		inLedger := err == nil
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			return nil, err
		}
		if out.err == nil && !inLedger {
			res.LedgerMissing++
			missingIDs = append(missingIDs, id)
		}
		if n := seen[d]; n > 1 {
			res.Extra += n - 1
			marked := false
			for _, h := range rec.History {
				marked = marked || h.State == ledger.Unknown
			}
			if marked {
				markedIDs = append(markedIDs, id)
			} else {
				res.ExtraUnmarked += n - 1
				unmarkedIDs = append(unmarkedIDs, id)
			}
		}
		if out.err == nil && out.start.After(recovered) && seen[d] != 1 {
			res.AfterRecoveryExact = false
		}
		if seen[d] > 0 || out.err != nil {
			continue
		}
		if taskQueued(ins, id) {
			res.Unsettled++
			unsettledIDs = append(unsettledIDs, id)
			continue
		}
		res.Lost++
		lostIDs = append(lostIDs, id)
	}

	rp.Info("replica behind the master just before the kill", "%s (sampled; what is behind at the kill is lost with the master)", lag)
	rp.Check("worker processes survived the failover", fmt.Sprintf("%d of %d running, never restarted", running(fl), fl.Slots()),
		"all", running(fl) == fl.Slots())
	rp.Info("sends attempted", "%d: %d accepted (%d before the kill, %d after), %d refused", res.Attempted, res.Accepted,
		res.AcceptedBefore, res.AcceptedAfter, res.Refused)
	if res.Refused > 0 {
		from := secs(firstRefused.Sub(killAt)) + " after"
		if firstRefused.Before(killAt) {
			from = secs(killAt.Sub(firstRefused)) + " before"
		}
		rp.Info("refused during failover", "%d, started from %s the kill to %s after it, each answered with an error",
			res.Refused, from, secs(lastRefused.Sub(killAt)))
		rp.Info("refused sends retried with the same id", "%d queued now; %d had been queued despite the error (a write reached Redis, its answer did not): the retry found them, no second message; %d refused again",
			res.RetryCreated, res.RetryExisting, res.RetryFailed)
	}
	rp.Info("provider receptions", "%d before the kill, %d after", res.SentBefore, res.SentAfter)
	rp.Check("producer recovered", fmt.Sprintf("first accepted send %s after the kill", secs(res.ProducerRecovery)), "yes", res.ProducerRecovery > 0)
	rp.Check("worker recovered", fmt.Sprintf("first message enqueued after the kill reached the provider %s after it", secs(res.DeliveryRecovery)),
		"yes", res.DeliveryRecovery > 0)
	rp.Check("messages accepted after recovery", "sent exactly once: "+yesNo(res.AfterRecoveryExact), "every one exactly once", res.AfterRecoveryExact)
	rp.Info("accepted, ledger record missing after failover", "%d%s", res.LedgerMissing, idList(missingIDs))
	rp.Info("accepted and lost (never sent, nothing queued)", "%d%s", res.Lost, idList(lostIDs))
	if res.Lost > 0 {
		rp.Note("a lost message is one the old master acknowledged (task and ledger record written) but had not yet streamed to the replica when it died: asynchronous replication")
	}
	if drainErr != nil || res.Unsettled > 0 {
		rp.Info("accepted, still queued after the drain", "%d%s", res.Unsettled, idList(unsettledIDs))
	}
	marked := res.Extra - res.ExtraUnmarked
	if marked == 0 {
		rp.Info("sent twice, marked unknown", "0")
	} else {
		rp.Info("sent twice, marked unknown", "%d%s: the provider accepted it, but its \"submitted\" mark never reached the surviving Redis (written while no master was reachable, or lost with the old one); the rerun found it \"sending\", marked it unknown and sent it again, as designed",
			marked, idList(markedIDs))
	}
	if res.ExtraUnmarked == 0 {
		rp.Info("sent twice, no unknown mark", "0")
	} else {
		rp.Info("sent twice, no unknown mark", "%d%s: the ledger's record of the first send was lost with the old master (not yet replicated), so the rerun had nothing to warn about",
			res.ExtraUnmarked, idList(unmarkedIDs))
	}
	rp.Check("every message accounted for", fmt.Sprintf("%d accepted = %d sent + %d lost + %d still queued", res.Accepted,
		res.Accepted-res.Lost-res.Unsettled, res.Lost, res.Unsettled), "sums", sentAccepted(outcomes, seen) == res.Accepted-res.Lost-res.Unsettled)
	if res.Lost == 0 && res.Extra == 0 {
		rp.Note("nothing accepted was lost or sent twice in this run")
	}
	for _, e := range fl.eventLines() {
		rp.Note("%s", e)
	}
	return res, nil
}

// sentAccepted counts the accepted messages the provider received.
func sentAccepted(outs []sendOutcome, seen map[string]int) int {
	n := 0
	for _, o := range outs {
		if o.err == nil && seen[harness.Digits(o.req.To)] > 0 {
			n++
		}
	}
	return n
}

// taskQueued reports whether the send task id still waits in a queue.
func taskQueued(ins *asynq.Inspector, id string) bool {
	for _, q := range []string{tasks.QueueTransactional, tasks.QueueBulk} {
		ti, err := ins.GetTaskInfo(q, id)
		if err != nil {
			continue
		}
		switch ti.State {
		case asynq.TaskStatePending, asynq.TaskStateActive, asynq.TaskStateScheduled, asynq.TaskStateRetry, asynq.TaskStateAggregating:
			return true
		}
	}
	return false
}

func running(fl *fleet) int {
	n := 0
	for slot := range fl.Slots() {
		if p, label := fl.Worker(slot); p != nil && !p.Exited() && label == harness.WorkerLabel(slot, 0) {
			n++
		}
	}
	return n
}

func idList(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	if len(ids) > 5 {
		return fmt.Sprintf(": %s …", strings.Join(ids[:5], " "))
	}
	return ": " + strings.Join(ids, " ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
