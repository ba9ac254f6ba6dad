package campaign

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/providers"
)

// Delivery reports for campaign recipients.
//
// Only providers that report delivery (a providers.StatusPoller: Keccel,
// Sakari) get these entries; the others cost nothing. For each submitted
// recipient of such a provider two small entries live until its block's
// poll round ends (every recipient final, or expired):
//
//	smsq:c:{id}:d:<n>   recipient → provider id, field index%100, for
//	                    recipients n·100 … n·100+99; the poll round walks it
//	smsq:dlx:<bucket>   hash(provider, provider id) → campaign number<<32 |
//	                    index; a push report is looked up here
//	smsq:campaigns:num  campaign number → campaign id
//	smsq:campaigns:seq  the last campaign number handed out
//
// The global entry holds two integers, which Redis stores in ~20 bytes,
// and 2^16 buckets keep every bucket a compact listpack up to ~8 million
// recipients awaiting reports at once. A report is applied only when the
// campaign's own entry still holds the reported id, so a hash collision
// or an id replaced by a resend can never settle the wrong recipient; it
// is then kept by the delivery service, and the poll settles the
// recipient.

// indexBuckets is how many global index hashes exist.
const indexBuckets = 1 << 16

// fNumber is the meta hash field holding the campaign's number.
const fNumber = "num"

func (s *Store) dlxKey(bucket int) string { return s.prefix + "dlx:" + strconv.Itoa(bucket) }
func (s *Store) numbersKey() string       { return s.prefix + "campaigns:num" }
func (s *Store) sequenceKey() string      { return s.prefix + "campaigns:seq" }

// indexSlot is where provider's id pid sits in the global index: a bucket
// from 16 bits of its hash, a field from 47 more (an integer, stored in 9
// bytes whatever the id's length).
func indexSlot(provider, pid string) (bucket int, field string) {
	h := fnv.New64a()
	_, _ = h.Write([]byte(provider))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(pid))
	v := h.Sum64()
	return int(v % indexBuckets), strconv.FormatUint((v>>16)&(1<<47-1), 10)
}

func indexValue(number int64, idx int) int64 { return number<<32 | int64(idx) }

// number returns the campaign's number, handing one out the first time.
func (s *Store) number(ctx context.Context, id string) (int64, error) {
	if v, ok := s.numbers.Load(id); ok {
		return v.(int64), nil
	}
	meta := s.keys(id).meta
	n, err := s.rdb.HGet(ctx, meta, fNumber).Int64()
	if errors.Is(err, redis.Nil) {
		if n, err = s.rdb.Incr(ctx, s.sequenceKey()).Result(); err != nil {
			return 0, err
		}
		// The number → id entry first: a number in a meta hash always
		// resolves. One lost to a concurrent first use stays unused.
		if err := s.rdb.HSet(ctx, s.numbersKey(), n, id).Err(); err != nil {
			return 0, err
		}
		set, err := s.rdb.HSetNX(ctx, meta, fNumber, n).Result()
		if err != nil {
			return 0, err
		}
		if !set {
			n, err = s.rdb.HGet(ctx, meta, fNumber).Int64()
		}
	}
	if err != nil {
		return 0, err
	}
	s.numbers.Store(id, n)
	return n, nil
}

// idOf resolves a campaign number; "" when unknown.
func (s *Store) idOf(ctx context.Context, n int64) (string, error) {
	if v, ok := s.ids.Load(n); ok {
		return v.(string), nil
	}
	id, err := s.rdb.HGet(ctx, s.numbersKey(), strconv.FormatInt(n, 10)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	s.ids.Store(n, id)
	return id, nil
}

// recordProviderIDs remembers which recipient of c each provider message
// id (pids: id → recipient index) belongs to, in the campaign and in the
// global index.
func (s *Store) recordProviderIDs(ctx context.Context, c *Campaign, pids map[string]int) error {
	if len(pids) == 0 {
		return nil
	}
	num, err := s.number(ctx, c.ID)
	if err != nil {
		return err
	}
	k := s.keys(c.ID)
	keyNo := map[string]int{}
	var names []string
	args := make([]any, 0, 3*len(pids))
	for pid, idx := range pids {
		name := k.pids(idx)
		n, ok := keyNo[name]
		if !ok {
			names = append(names, name)
			n = len(names)
			keyNo[name] = n
		}
		args = append(args, n, pidField(idx), pid)
	}
	replaced, err := recordPIDsScript.Run(ctx, s.rdb, names, args...).StringSlice()
	if err != nil {
		return err
	}
	set := map[int][]any{}
	for pid, idx := range pids {
		b, f := indexSlot(c.Provider, pid)
		set[b] = append(set[b], f, indexValue(num, idx))
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, old := range replaced {
			b, f := indexSlot(c.Provider, old)
			p.HDel(ctx, s.dlxKey(b), f)
		}
		for b, kv := range set {
			p.HSet(ctx, s.dlxKey(b), kv...)
		}
		return nil
	})
	return err
}

// forgetIndex drops the global index entries of provider's ids pids.
func (s *Store) forgetIndex(ctx context.Context, provider string, pids []string) error {
	if len(pids) == 0 {
		return nil
	}
	del := map[int][]string{}
	for _, pid := range pids {
		b, f := indexSlot(provider, pid)
		del[b] = append(del[b], f)
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b, fs := range del {
			p.HDel(ctx, s.dlxKey(b), fs...)
		}
		return nil
	})
	return err
}

// indexed returns what the global index says about provider's id pid,
// unchecked against the campaign.
func (s *Store) indexed(ctx context.Context, provider, pid string) (id string, idx int, ok bool, err error) {
	b, f := indexSlot(provider, pid)
	v, err := s.rdb.HGet(ctx, s.dlxKey(b), f).Int64()
	if errors.Is(err, redis.Nil) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, err
	}
	id, err = s.idOf(ctx, v>>32)
	if err != nil || id == "" {
		return "", 0, false, err
	}
	return id, int(v & (1<<32 - 1)), true, nil
}

// LookupProviderID returns the campaign and recipient index of provider's
// message pid, while that recipient's poll round runs (until it and the
// rest of its block have a final state).
func (s *Store) LookupProviderID(ctx context.Context, provider, pid string) (campaignID string, idx int, ok bool, err error) {
	id, idx, ok, err := s.indexed(ctx, provider, pid)
	if err != nil || !ok {
		return "", 0, false, err
	}
	got, err := s.rdb.HGet(ctx, s.keys(id).pids(idx), pidField(idx)).Result()
	if errors.Is(err, redis.Nil) || (err == nil && got != pid) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, err
	}
	return id, idx, true, nil
}

// Settle applies a delivery report to the campaign recipient the provider
// knows as rep.ProviderID: a final report moves it from submitted to
// delivered or failed, counters included, in one script. Final states
// never change again, so a repeated or contradicting report changes
// nothing. It reports whether the id is a campaign recipient's (repeats
// included); false lets the caller keep the report. The source is not
// recorded: campaign recipients keep no history. It implements
// delivery.Campaigns.
func (s *Store) Settle(ctx context.Context, provider string, rep providers.DeliveryReport, _ ledger.Source) (bool, error) {
	if rep.ProviderID == "" {
		return false, nil
	}
	id, idx, ok, err := s.indexed(ctx, provider, rep.ProviderID)
	if err != nil || !ok {
		return false, err
	}
	if !rep.State.Final() {
		_, _, ok, err := s.LookupProviderID(ctx, provider, rep.ProviderID)
		return ok, err
	}
	to := Delivered
	if rep.State == providers.DeliveryFailed {
		to = Failed
	}
	k := s.keys(id)
	res, err := settleScript.Run(ctx, s.rdb, []string{k.states, k.meta, k.pids(idx)},
		idx, pidField(idx), rep.ProviderID, int(to)).Int()
	if err != nil {
		return false, fmt.Errorf("campaign %s: settle report: %w", id, err)
	}
	return res >= 0, nil
}

// round is a block's running round of delivery polls.
type round struct {
	id     int64     // its start, unix ms: tells it from earlier rounds
	anchor time.Time // the block's latest submission
}

// round returns block k's running poll round, if any.
func (s *Store) round(ctx context.Context, id string, k int) (round, bool, error) {
	v, err := s.rdb.HGet(ctx, s.keys(id).polls, strconv.Itoa(k)).Result()
	if errors.Is(err, redis.Nil) {
		return round{}, false, nil
	}
	if err != nil {
		return round{}, false, err
	}
	var r round
	var a int64
	if _, err := fmt.Sscanf(v, "%d:%d", &r.id, &a); err != nil {
		return round{}, false, fmt.Errorf("campaign %s: poll round of block %d: %q", id, k, v)
	}
	r.anchor = time.UnixMilli(a)
	return r, true, nil
}

// arm starts block k's poll round at now unless one runs or nothing in
// the block is submitted; recorded moves a running round's anchor to now.
// It returns the round started (ok false when none was).
func (s *Store) arm(ctx context.Context, c *Campaign, k int, now time.Time, recorded bool) (int64, bool, error) {
	lo, hi := c.blockRange(k)
	rec := "0"
	if recorded {
		rec = "1"
	}
	names := s.blockKeys(c.ID, lo, hi)
	res, err := armScript.Run(ctx, s.rdb, names, k, lo, hi, now.UnixMilli(), rec, lo/pidChunk).StringSlice()
	if err != nil || len(res) != 2 || res[0] != "1" {
		return 0, false, err
	}
	rid, err := strconv.ParseInt(res[1], 10, 64)
	return rid, err == nil, err
}

func (s *Store) disarm(ctx context.Context, id string, k int, rid int64) error {
	return disarmScript.Run(ctx, s.rdb, []string{s.keys(id).polls}, k, rid).Err()
}

// awaited is one recipient of a block with a recorded provider id.
type awaited struct {
	idx   int
	pid   string
	state RecipientState
}

// blockPIDs returns block k's recipients with a recorded provider id, in
// index order, with their states, and whether any recipient of the block
// (with an id or not) is still submitted.
func (s *Store) blockPIDs(ctx context.Context, c *Campaign, k int) ([]awaited, bool, error) {
	lo, hi := c.blockRange(k)
	if hi <= lo {
		return nil, false, nil
	}
	kk := s.keys(c.ID)
	var st *redis.StringCmd
	var hs []*redis.MapStringStringCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		st = p.GetRange(ctx, kk.states, int64(lo), int64(hi-1))
		for n := lo / pidChunk; n <= (hi-1)/pidChunk; n++ {
			hs = append(hs, p.HGetAll(ctx, kk.pids(n*pidChunk)))
		}
		return nil
	}); err != nil {
		return nil, false, err
	}
	states := []byte(st.Val())
	stateOf := func(idx int) RecipientState {
		if i := idx - lo; i < len(states) {
			return RecipientState(states[i])
		}
		return Pending
	}
	waiting := false
	for _, b := range states {
		waiting = waiting || RecipientState(b) == Submitted
	}
	var out []awaited
	for j, h := range hs {
		base := (lo/pidChunk + j) * pidChunk
		for f, pid := range h.Val() {
			off, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if idx := base + off; idx >= lo && idx < hi {
				out = append(out, awaited{idx: idx, pid: pid, state: stateOf(idx)})
			}
		}
	}
	slices.SortFunc(out, func(a, b awaited) int { return a.idx - b.idx })
	return out, waiting, nil
}

// blockKeys are the keys the round scripts take for recipients [lo, hi):
// the state string, the poll-rounds hash, then the provider-id hashes
// covering the range, in order.
func (s *Store) blockKeys(id string, lo, hi int) []string {
	kk := s.keys(id)
	names := []string{kk.states, kk.polls}
	for n := lo / pidChunk; hi > lo && n <= (hi-1)/pidChunk; n++ {
		names = append(names, kk.pids(n*pidChunk))
	}
	return names
}

// endRound ends round rid of block k if none of the block's recipients is
// submitted, dropping the block's provider ids from the campaign; pids
// are then dropped from the global index. It returns 1 when ended, 0 when
// a recipient still waits, -1 when rid is not the block's round.
func (s *Store) endRound(ctx context.Context, c *Campaign, k int, rid int64, pids []string) (int, error) {
	lo, hi := c.blockRange(k)
	res, err := endRoundScript.Run(ctx, s.rdb, s.blockKeys(c.ID, lo, hi), k, rid, lo, hi, lo/pidChunk).Int()
	if err != nil || res != 1 {
		return res, err
	}
	return 1, s.forgetIndex(ctx, c.Provider, pids)
}

// liveKey is the sorted set (by creation) of running and paused
// campaigns, for Active.
func (s *Store) liveKey() string { return s.prefix + "campaigns:live" }

func (s *Store) setLive(ctx context.Context, c *Campaign) {
	_ = s.rdb.ZAddNX(ctx, s.liveKey(), redis.Z{Score: float64(ms(c.Created)), Member: c.ID}).Err()
}

func (s *Store) notLive(ctx context.Context, id string) {
	_ = s.rdb.ZRem(ctx, s.liveKey(), id).Err()
}

// DefaultActiveLimit is how many campaigns Active returns when asked for
// none in particular.
const DefaultActiveLimit = 100

// Active returns up to limit running or paused campaigns, oldest first,
// for monitoring: two Redis round trips whatever the number of campaigns
// ever run. limit ≤ 0 means DefaultActiveLimit.
func (s *Store) Active(ctx context.Context, limit int) ([]*Campaign, error) {
	if limit <= 0 {
		limit = DefaultActiveLimit
	}
	ids, err := s.rdb.ZRange(ctx, s.liveKey(), 0, int64(limit-1)).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.keys(id).meta)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]*Campaign, 0, len(ids))
	for i, id := range ids {
		h := cmds[i].Val()
		if len(h) == 0 {
			s.notLive(ctx, id)
			continue
		}
		c := parseMeta(id, h)
		switch {
		case c.State == Running || c.State == Paused:
			out = append(out, c)
		case c.State.Final():
			// Missed when it ended (the set is updated after the state).
			s.notLive(ctx, id)
		}
	}
	return out, nil
}
