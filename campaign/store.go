package campaign

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsq/smsq/pacing"
	"github.com/smsq/smsq/sms"
)

// StoreOptions configure a Store.
type StoreOptions struct {
	// Prefix starts every Redis key. Default "smsq:".
	Prefix string `koanf:"prefix"`
	// Now is the clock. Default time.Now.
	Now func() time.Time `koanf:"-"`
}

// Store keeps campaigns in Redis. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time

	numbers sync.Map // campaign id → number (see report.go); fixed once given
	ids     sync.Map // number → campaign id
}

// NewStore returns a Store on rdb. It does not touch Redis.
func NewStore(rdb redis.UniversalClient, o StoreOptions) *Store {
	if o.Prefix == "" {
		o.Prefix = "smsq:"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{rdb: rdb, prefix: o.Prefix, now: o.Now}
}

func (s *Store) keys(id string) keys { return newKeys(s.prefix, id) }
func (s *Store) indexKey() string    { return s.prefix + "campaigns" }
func (s *Store) activeKey() string   { return s.prefix + "campaigns:active" }

// CreateOptions are ImportOptions plus what only creation needs.
type CreateOptions struct {
	ImportOptions
	// Providers are the providers a campaign may name. Default nil: any.
	Providers []string `koanf:"-"`
	// BlockSize is the block size of an unpaced campaign: the provider's
	// batch size, so that one block is one provider call. Default 1000.
	BlockSize int `koanf:"block_size"`
}

// prepare validates d and returns it normalised, with its template and plan.
func prepare(d Definition, o CreateOptions, now time.Time) (Definition, *Template, *pacing.Plan, error) {
	if d.ID == "" {
		d.ID = NewID(now)
	} else if !idPattern.MatchString(d.ID) {
		return d, nil, nil, &FieldError{Field: "id", Reason: "use 1–64 letters, digits, '.', '_' or '-'"}
	}
	if d.Name == "" {
		d.Name = d.ID
	}
	d.Provider = strings.ToLower(strings.TrimSpace(d.Provider))
	switch {
	case d.Provider == "":
		return d, nil, nil, &FieldError{Field: "provider", Reason: "required"}
	case d.Provider == "kaizala":
		return d, nil, nil, &FieldError{Field: "provider", Reason: "kaizala sends to groups, not phone numbers; pick an SMS provider"}
	case o.Providers != nil && !slices.Contains(o.Providers, d.Provider):
		return d, nil, nil, &FieldError{Field: "provider", Reason: fmt.Sprintf("%q is unknown or not enabled (enabled: %s)", d.Provider, strings.Join(o.Providers, ", "))}
	}
	if err := sms.ValidateSender(d.From); err != nil {
		return d, nil, nil, &FieldError{Field: "from", Reason: reasonOf(err)}
	}
	if strings.TrimSpace(d.Message) == "" {
		return d, nil, nil, &FieldError{Field: "message", Reason: "required"}
	}
	tpl, err := ParseTemplate(d.Message)
	if err != nil {
		return d, nil, nil, err
	}
	if tpl.Static() {
		if _, err := sms.ValidateText(d.Message, o.withDefaults().MaxSegments); err != nil {
			return d, nil, nil, &FieldError{Field: "message", Reason: reasonOf(err)}
		}
	}
	plan, err := pacing.Parse(d.Pacing)
	if err != nil {
		return d, nil, nil, err
	}
	d.Pacing = plan.Spec()
	return d, tpl, plan, nil
}

func (o CreateOptions) blockSize(plan *pacing.Plan) int {
	if plan.Paced() {
		return plan.SMSPerBlock()
	}
	if o.BlockSize > 0 {
		return o.BlockSize
	}
	return chunkSize
}

func newCSVReader(r io.Reader) *csv.Reader {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return cr
}

func blocksFor(n, size int) int {
	if n <= 0 {
		return 0
	}
	return (n + size - 1) / size
}

// Check validates d and the recipients file as Create would, and reports,
// without storing anything. Suppressed numbers are only found when
// o.Suppress is set.
func Check(ctx context.Context, d Definition, r io.Reader, o CreateOptions) (Report, error) {
	o.ImportOptions = o.withDefaults()
	d, tpl, plan, err := prepare(d, o, time.Now())
	if err != nil {
		return Report{}, err
	}
	cr := newCSVReader(r)
	h, err := readHeader(cr, tpl, o.PhoneColumn)
	if err != nil {
		return Report{}, err
	}
	rep := Report{}
	t := newTally(ctx, &rep, o.ImportOptions)
	err = scan(ctx, cr, h, tpl, o.ImportOptions, func(rows []row) error {
		send, sup, err := t.add(ctx, rows)
		rep.Sendable += len(send)
		rep.Suppressed += len(sup)
		return err
	})
	if err != nil {
		return rep, err
	}
	rep.Recipients = rep.Sendable + rep.Suppressed
	rep.Blocks = blocksFor(rep.Sendable, o.blockSize(plan))
	return rep, nil
}

func newTally(ctx context.Context, rep *Report, o ImportOptions) *tally {
	t := &tally{rep: rep, max: o.MaxReported, seen: make(map[uint64]int32, 1<<16), sup: o.Suppress}
	if o.Suppress != nil {
		// An empty list needs no lookups; a failed count just means we look.
		n, err := o.Suppress.Count(ctx)
		t.checkOK = err != nil || n > 0
	}
	return t
}

// chunkWriter packs recipient lines into chunk keys, pipelined.
type chunkWriter struct {
	ctx     context.Context
	pipe    redis.Pipeliner
	k       keys
	buf     []byte
	n       int // recipients written so far
	queued  int // chunks in the pipeline
	written int // chunks sent to Redis
	err     error
}

func (w *chunkWriter) add(r row) {
	w.buf = appendLine(w.buf, r)
	w.n++
	if w.n%chunkSize == 0 {
		w.cut()
	}
}

func (w *chunkWriter) cut() {
	if len(w.buf) == 0 {
		return
	}
	w.pipe.Set(w.ctx, w.k.chunk((w.n-1)/chunkSize), string(w.buf), 0)
	w.buf = w.buf[:0]
	w.queued++
	if w.queued >= 16 {
		w.flush()
	}
}

func (w *chunkWriter) flush() {
	if w.queued == 0 || w.err != nil {
		return
	}
	_, err := w.pipe.Exec(w.ctx)
	w.written += w.queued
	w.queued = 0
	if err != nil {
		w.err = err
	}
}

// Create validates d, imports the recipients CSV (a phone column plus the
// template's fields) and stores the campaign, scheduled. The report lists
// bad rows, duplicates and suppressed numbers. Nothing is stored when d or
// the header is wrong, when no row is usable, or with o.Strict when any row
// is bad; the report is returned in every case the file was read.
func (s *Store) Create(ctx context.Context, d Definition, r io.Reader, o CreateOptions) (Report, error) {
	o.ImportOptions = o.withDefaults()
	now := s.now()
	d, tpl, plan, err := prepare(d, o, now)
	if err != nil {
		return Report{}, err
	}
	cr := newCSVReader(r)
	h, err := readHeader(cr, tpl, o.PhoneColumn)
	if err != nil {
		return Report{}, err
	}
	k := s.keys(d.ID)
	claimed, err := s.rdb.HSetNX(ctx, k.meta, fState, string(Importing)).Result()
	if err != nil {
		return Report{}, err
	}
	if !claimed {
		return Report{}, fmt.Errorf("campaign %s: %w", d.ID, ErrExists)
	}
	w := &chunkWriter{ctx: ctx, pipe: s.rdb.Pipeline(), k: k}
	fail := func(rep Report, err error) (Report, error) {
		s.discard(context.WithoutCancel(ctx), k, w.written+w.queued)
		return rep, err
	}

	rep := Report{ID: d.ID}
	t := newTally(ctx, &rep, o.ImportOptions)
	var suppressed []row
	err = scan(ctx, cr, h, tpl, o.ImportOptions, func(rows []row) error {
		send, sup, err := t.add(ctx, rows)
		if err != nil {
			return err
		}
		for _, r := range send {
			w.add(r)
		}
		suppressed = append(suppressed, sup...)
		return w.err
	})
	if err != nil {
		return fail(rep, err)
	}
	rep.Sendable = w.n
	rep.Suppressed = len(suppressed)
	rep.Recipients = rep.Sendable + rep.Suppressed
	size := o.blockSize(plan)
	rep.Blocks = blocksFor(rep.Sendable, size)
	switch {
	case o.Strict && rep.Bad > 0:
		return fail(rep, &FieldError{Field: "file", Reason: fmt.Sprintf("%d bad rows; nothing created (strict)", rep.Bad)})
	case rep.Recipients == 0:
		return fail(rep, &FieldError{Field: "file", Reason: fmt.Sprintf("no usable recipient in %d rows", rep.Rows)})
	}
	for _, r := range suppressed {
		w.add(r)
	}
	w.cut()
	w.flush()
	if w.err != nil {
		return fail(rep, w.err)
	}

	states := make([]byte, rep.Recipients)
	for i := rep.Sendable; i < rep.Recipients; i++ {
		states[i] = byte(Suppressed)
	}
	c := &Campaign{Definition: d, State: Scheduled, Fields: tpl.Fields(), Total: rep.Recipients, Sendable: rep.Sendable,
		BlockSize: size, Blocks: rep.Blocks, Created: now,
		Counts: map[string]int64{Pending.String(): int64(rep.Sendable), Suppressed.String(): int64(rep.Suppressed)}}
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, k.states, states, 0)
		p.HSet(ctx, k.meta, c.metaFields())
		return nil
	}); err != nil {
		return fail(rep, err)
	}
	// Listed only once complete: a crash before this leaves an "importing"
	// campaign nothing looks at.
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, s.indexKey(), redis.Z{Score: float64(now.UnixMilli()), Member: d.ID})
		p.SAdd(ctx, s.activeKey(), d.ID)
		return nil
	}); err != nil {
		return rep, fmt.Errorf("campaign %s stored but not listed: %w", d.ID, err)
	}
	return rep, nil
}

// discard deletes what a failed import wrote.
func (s *Store) discard(ctx context.Context, k keys, chunks int) {
	del := []string{k.meta, k.states}
	for i := 0; i <= chunks; i++ {
		del = append(del, k.chunk(i))
	}
	for start := 0; start < len(del); start += 500 {
		_ = s.rdb.Del(ctx, del[start:min(start+500, len(del))]...).Err()
	}
}

// Get returns the campaign with id.
func (s *Store) Get(ctx context.Context, id string) (*Campaign, error) {
	if !idPattern.MatchString(id) {
		return nil, fmt.Errorf("campaign %q: %w", id, ErrNotFound)
	}
	h, err := s.rdb.HGetAll(ctx, s.keys(id).meta).Result()
	if err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("campaign %s: %w", id, ErrNotFound)
	}
	return parseMeta(id, h), nil
}

// List returns every campaign, oldest first.
func (s *Store) List(ctx context.Context) ([]*Campaign, error) {
	ids, err := s.rdb.ZRange(ctx, s.indexKey(), 0, -1).Result()
	if err != nil {
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
		if h := cmds[i].Val(); len(h) > 0 {
			out = append(out, parseMeta(id, h))
		}
	}
	return out, nil
}

// Pause stops the campaign before its next batch and block. Pending
// recipients stay pending; Resume continues with them.
func (s *Store) Pause(ctx context.Context, id string) (*Campaign, error) {
	c, err := s.setState(ctx, id, Paused, "", Scheduled, Running)
	s.live(ctx, c, err)
	return c, err
}

// Resume continues a paused campaign; the scheduler re-enqueues its block.
func (s *Store) Resume(ctx context.Context, id string) (*Campaign, error) {
	c, err := s.setState(ctx, id, Running, "", Paused)
	s.live(ctx, c, err)
	return c, err
}

// live lists c for Active when a state change made it running or paused.
func (s *Store) live(ctx context.Context, c *Campaign, err error) {
	if err == nil && (c.State == Running || c.State == Paused) {
		s.setLive(ctx, c)
	}
}

// Cancel stops the campaign for good before its next batch and block.
// Nothing already submitted is lost; pending recipients are never sent.
func (s *Store) Cancel(ctx context.Context, id string) (*Campaign, error) {
	c, err := s.setState(ctx, id, Cancelled, "", Scheduled, Running, Paused)
	if err == nil {
		_ = s.rdb.SRem(ctx, s.activeKey(), id).Err()
		s.notLive(ctx, id)
	}
	return c, err
}

// pause is Pause with a reason, for smsq's own pauses.
func (s *Store) pause(ctx context.Context, id, reason string) error {
	c, err := s.setState(ctx, id, Paused, reason, Scheduled, Running)
	s.live(ctx, c, err)
	return err
}

func (s *Store) setState(ctx context.Context, id string, to State, reason string, from ...State) (*Campaign, error) {
	if !idPattern.MatchString(id) {
		return nil, fmt.Errorf("campaign %q: %w", id, ErrNotFound)
	}
	args := []any{string(to), reason}
	for _, f := range from {
		args = append(args, string(f))
	}
	res, err := setStateScript.Run(ctx, s.rdb, []string{s.keys(id).meta}, args...).StringSlice()
	if err != nil {
		return nil, err
	}
	if res[0] == "" {
		return nil, fmt.Errorf("campaign %s: %w", id, ErrNotFound)
	}
	if res[1] != "ok" {
		return nil, fmt.Errorf("campaign %s is %s, cannot become %s: %w", id, res[0], to, ErrState)
	}
	return s.Get(ctx, id)
}

// states returns the state bytes of recipients [lo, hi).
func (s *Store) states(ctx context.Context, id string, lo, hi int) ([]byte, error) {
	if hi <= lo {
		return nil, nil
	}
	v, err := s.rdb.GetRange(ctx, s.keys(id).states, int64(lo), int64(hi-1)).Result()
	if err != nil {
		return nil, err
	}
	b := []byte(v)
	for len(b) < hi-lo {
		b = append(b, byte(Pending))
	}
	return b, nil
}

// State returns recipient i's state.
func (s *Store) State(ctx context.Context, id string, i int) (RecipientState, error) {
	b, err := s.states(ctx, id, i, i+1)
	if err != nil {
		return 0, err
	}
	return RecipientState(b[0]), nil
}

// Recipients returns the stored recipients [lo, hi) of campaign c.
func (s *Store) Recipients(ctx context.Context, c *Campaign, lo, hi int) ([]Recipient, error) {
	hi = min(hi, c.Total)
	if hi <= lo {
		return nil, nil
	}
	k := s.keys(c.ID)
	var names []string
	for n := lo / chunkSize; n <= (hi-1)/chunkSize; n++ {
		names = append(names, k.chunk(n))
	}
	vals, err := s.rdb.MGet(ctx, names...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Recipient, 0, hi-lo)
	for i, v := range vals {
		str, _ := v.(string)
		first := (lo/chunkSize + i) * chunkSize
		for _, r := range parseChunk(first, str, len(c.Fields)) {
			if r.Index >= lo && r.Index < hi {
				out = append(out, r)
			}
		}
	}
	if len(out) != hi-lo {
		return nil, fmt.Errorf("campaign %s: recipients %d-%d: found %d of them", c.ID, lo, hi-1, len(out))
	}
	return out, nil
}

// mark moves the recipients idx that are in one of the from states to
// state to, counters included, and reports which ones moved.
func (s *Store) mark(ctx context.Context, id string, to RecipientState, from []RecipientState, idx []int) ([]bool, error) {
	if len(idx) == 0 {
		return nil, nil
	}
	k := s.keys(id)
	fromB := make([]byte, len(from))
	for i, f := range from {
		fromB[i] = byte(f)
	}
	args := append(make([]any, 0, 8), int(to), string(fromB))
	args = appendRuns(args, idx)
	res, err := markScript.Run(ctx, s.rdb, []string{k.states, k.meta}, args...).Text()
	if err != nil {
		return nil, err
	}
	moved := make([]bool, len(idx))
	for i := range moved {
		moved[i] = i < len(res) && res[i] == '1'
	}
	return moved, nil
}

// appendRuns appends idx to args as runs of consecutive indices: first
// index, then length (markScript's form). Order is kept.
func appendRuns(args []any, idx []int) []any {
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && idx[j] == idx[j-1]+1 {
			j++
		}
		args = append(args, idx[i], j-i)
		i = j
	}
	return args
}

// claim claims block k to start at start; false when it is not the next
// block to enqueue, an earlier one is still running, or the campaign is
// not active.
func (s *Store) claim(ctx context.Context, id string, k int, start time.Time) (bool, error) {
	n, err := claimScript.Run(ctx, s.rdb, []string{s.keys(id).meta}, k, start.UnixMilli()).Int()
	return n == 1, err
}

// startTolerance is how late a block may start and still count as on
// time: its plan is not moved (see startedScript).
const startTolerance = time.Second

// started records that block k began sending at now (see startedScript).
func (s *Store) started(ctx context.Context, id string, k int, now time.Time) error {
	return startedScript.Run(ctx, s.rdb, []string{s.keys(id).meta}, k, now.UnixMilli(), startTolerance.Milliseconds()).Err()
}

// blockDone records block k complete (k < 0: nothing) and returns the
// campaign's state, done once every block is.
func (s *Store) blockDone(ctx context.Context, id string, k int, now time.Time) (State, error) {
	st, err := blockDoneScript.Run(ctx, s.rdb, []string{s.keys(id).meta}, k, now.UnixMilli()).Text()
	if err != nil {
		return "", err
	}
	if State(st).Final() {
		_ = s.rdb.SRem(ctx, s.activeKey(), id).Err()
		s.notLive(ctx, id)
	}
	return State(st), nil
}

func (s *Store) stateOf(ctx context.Context, id string) (State, error) {
	v, err := s.rdb.HGet(ctx, s.keys(id).meta, fState).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("campaign %s: %w", id, ErrNotFound)
	}
	return State(v), err
}

func (s *Store) addAttempt(ctx context.Context, id string) (int, error) {
	n, err := s.rdb.HIncrBy(ctx, s.keys(id).meta, fAttempts, 1).Result()
	return int(n), err
}

func (s *Store) resetAttempts(ctx context.Context, id string) error {
	return s.rdb.HSet(ctx, s.keys(id).meta, fAttempts, 0).Err()
}

func (s *Store) activeIDs(ctx context.Context) ([]string, error) {
	return s.rdb.SMembers(ctx, s.activeKey()).Result()
}

func (s *Store) deactivate(ctx context.Context, id string) error {
	s.notLive(ctx, id)
	return s.rdb.SRem(ctx, s.activeKey(), id).Err()
}
