package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound is returned for an id the ledger does not hold.
var ErrNotFound = errors.New("ledger: no such message")

// Record is one message as the ledger holds it.
type Record struct {
	ID          string       `json:"id"`
	Provider    string       `json:"provider"`
	To          string       `json:"to"`
	From        string       `json:"from,omitempty"`
	Text        string       `json:"text,omitempty"`
	Segments    int          `json:"segments,omitempty"`
	State       State        `json:"state"`
	ProviderID  string       `json:"provider_id,omitempty"`
	Attempts    int          `json:"attempts"`
	LastError   string       `json:"last_error,omitempty"`
	Campaign    string       `json:"campaign,omitempty"`
	CallbackURL string       `json:"callback_url,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
	History     []Transition `json:"history,omitempty"`
	// Producer names who sent the message through the HTTP API (its API
	// key's name), for access checks. Empty for the CLI and Go producers.
	Producer string `json:"producer,omitempty"`
}

// Transition is one entry of a record's history.
type Transition struct {
	State  State     `json:"state"`
	At     time.Time `json:"at"`
	Source Source    `json:"source"`
	Note   string    `json:"note,omitempty"`
}

// Options configure a Ledger.
type Options struct {
	// Prefix of every key. Empty: "smsq:".
	Prefix string
	// Retention is how long a record is kept after reaching a final state.
	// Zero: 7 days.
	Retention time.Duration
	// SubmittedRetention is how long a record is kept after it was last
	// recorded as submitted, should no final state follow (a provider
	// without delivery reports). It must outlive the delivery expiry,
	// which makes a tracked message final. Zero: Retention + 72h.
	SubmittedRetention time.Duration
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// EventsMaxLen caps the status-event stream (Prefix+"events"), which
	// gets one entry per state change, written atomically with it. Zero:
	// 100,000 entries (trimmed approximately); negative: no events.
	EventsMaxLen int64
}

// EventsKey is the Redis stream of status events under prefix.
func EventsKey(prefix string) string {
	if prefix == "" {
		prefix = "smsq:"
	}
	return prefix + "events"
}

// Ledger reads and writes message records.
type Ledger struct {
	rdb redis.UniversalClient
	o   Options
}

// New returns a Ledger on rdb.
func New(rdb redis.UniversalClient, o Options) *Ledger {
	if o.Prefix == "" {
		o.Prefix = "smsq:"
	}
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.SubmittedRetention <= 0 {
		o.SubmittedRetention = o.Retention + 72*time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.EventsMaxLen == 0 {
		o.EventsMaxLen = 100_000
	}
	return &Ledger{rdb: rdb, o: o}
}

func (l *Ledger) key(id string) string { return l.o.Prefix + "m:" + id }

func (l *Ledger) pidKey(provider, pid string) string {
	return l.o.Prefix + "pid:" + provider + ":" + pid
}

// Field names in the hash, short to keep records small.
const (
	fState = "st"
	fProv  = "p"
	fTo    = "to"
	fFrom  = "fr"
	fText  = "tx"
	fSeg   = "sg"
	fPID   = "pid"
	fAtt   = "at"
	fErr   = "er"
	fCamp  = "cp"
	fCB    = "cb"
	fProd  = "pr"
	fCrt   = "c"
	fUpd   = "u"
	fHist  = "h"
)

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func histEntry(s State, at time.Time, src Source, note string) string {
	// One entry per line: state|unix-ms|source|note. Notes never hold '\n'.
	return string(s) + "|" + ms(at) + "|" + string(src) + "|" + strings.ReplaceAll(note, "\n", " ") + "\n"
}

// createScript: KEYS[1] record, KEYS[2] event stream. ARGV: final?,
// retention-ms, events-maxlen, id, source, producer, then field/value
// pairs. An existing record without a producer takes the one given: a
// worker that rebuilt it from its task's payload could not know it.
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  if ARGV[6] ~= '' then redis.call('HSETNX', KEYS[1], 'pr', ARGV[6]) end
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
if ARGV[1] == '1' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if tonumber(ARGV[3]) > 0 then
  local h = redis.call('HMGET', KEYS[1], 'st', 'p', 'c', 'cb')
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'id', ARGV[4], 'state', h[1], 'from', '',
    'source', ARGV[5], 'at', h[3], 'provider', h[2], 'pid', '', 'cb', h[4] or '')
end
return 1`)

// Create stores rec unless a record with its id exists. It returns the
// stored record and whether this call created it. rec.State defaults to
// Queued. When the record exists without a producer and rec names one, it
// is recorded on it (the producer that queued a message a worker recorded
// first); an existing producer is never replaced.
func (l *Ledger) Create(ctx context.Context, rec Record, src Source) (Record, bool, error) {
	if rec.ID == "" {
		return Record{}, false, errors.New("ledger: record needs an id")
	}
	if rec.State == "" {
		rec.State = Queued
	}
	now := l.o.Now()
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = now
	}
	rec.UpdatedAt = now
	note := ""
	if rec.State == Rejected || rec.State == Failed {
		note = rec.LastError
	}
	args := []any{"0", l.o.Retention.Milliseconds(), l.o.EventsMaxLen, rec.ID, string(src), rec.Producer,
		fState, string(rec.State), fProv, rec.Provider, fTo, rec.To, fAtt, rec.Attempts,
		fCrt, ms(rec.CreatedAt), fUpd, ms(rec.UpdatedAt),
		fHist, histEntry(rec.State, now, src, note)}
	if rec.State.Final() {
		args[0] = "1"
	}
	for _, kv := range [][2]string{{fFrom, rec.From}, {fText, rec.Text}, {fPID, rec.ProviderID},
		{fErr, rec.LastError}, {fCamp, rec.Campaign}, {fCB, rec.CallbackURL}, {fProd, rec.Producer}} {
		if kv[1] != "" {
			args = append(args, kv[0], kv[1])
		}
	}
	if rec.Segments > 0 {
		args = append(args, fSeg, rec.Segments)
	}
	n, err := createScript.Run(ctx, l.rdb, []string{l.key(rec.ID), EventsKey(l.o.Prefix)}, args...).Int()
	if err != nil {
		return Record{}, false, fmt.Errorf("ledger: create %s: %w", rec.ID, err)
	}
	if n == 1 {
		rec.History = []Transition{{State: rec.State, At: now, Source: src, Note: note}}
		return rec, true, nil
	}
	existing, err := l.Get(ctx, rec.ID)
	return existing, false, err
}

// Get returns the record for id, or ErrNotFound.
func (l *Ledger) Get(ctx context.Context, id string) (Record, error) {
	m, err := l.rdb.HGetAll(ctx, l.key(id)).Result()
	if err != nil {
		return Record{}, fmt.Errorf("ledger: get %s: %w", id, err)
	}
	if len(m) == 0 {
		return Record{}, ErrNotFound
	}
	return decode(id, m), nil
}

// Pipeline starts a pipeline on the ledger's Redis, for GetIn.
func (l *Ledger) Pipeline() redis.Pipeliner { return l.rdb.Pipeline() }

// GetIn queues the read of id's record on p, a pipeline on the ledger's
// Redis (Pipeline), so that it shares a round trip with other reads; the
// function it returns gives the record, or ErrNotFound, once p has run.
func (l *Ledger) GetIn(ctx context.Context, p redis.Pipeliner, id string) func() (Record, error) {
	cmd := p.HGetAll(ctx, l.key(id))
	return func() (Record, error) {
		m, err := cmd.Result()
		if err != nil {
			return Record{}, fmt.Errorf("ledger: get %s: %w", id, err)
		}
		if len(m) == 0 {
			return Record{}, ErrNotFound
		}
		return decode(id, m), nil
	}
}

func decode(id string, m map[string]string) Record {
	r := Record{ID: id, State: State(m[fState]), Provider: m[fProv], To: m[fTo], From: m[fFrom], Text: m[fText],
		ProviderID: m[fPID], LastError: m[fErr], Campaign: m[fCamp], CallbackURL: m[fCB], Producer: m[fProd]}
	r.Attempts, _ = strconv.Atoi(m[fAtt])
	r.Segments, _ = strconv.Atoi(m[fSeg])
	r.CreatedAt = fromMS(m[fCrt])
	r.UpdatedAt = fromMS(m[fUpd])
	for _, line := range strings.Split(strings.TrimSuffix(m[fHist], "\n"), "\n") {
		parts := strings.SplitN(line, "|", 4)
		if len(parts) < 3 {
			continue
		}
		t := Transition{State: State(parts[0]), At: fromMS(parts[1]), Source: Source(parts[2])}
		if len(parts) == 4 {
			t.Note = parts[3]
		}
		r.History = append(r.History, t)
	}
	return r
}

func fromMS(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// Update is what a transition changes besides the state.
type Update struct {
	Source Source
	// Note goes into the history entry (a reason, a provider status word).
	Note string
	// ProviderID is recorded and indexed when non-empty.
	ProviderID string
	// Error becomes the record's last error when non-empty.
	Error string
	// Attempt counts one more provider call.
	Attempt bool
}

// transitionScript: KEYS[1] record, KEYS[2] event stream. ARGV: to,
// allowed-from (comma list), now-ms, history entry, ttl-ms (0: none), retention-ms,
// attempt?, pid, err, id, events-maxlen, source, pid-index prefix.
//
// It answers {code, state before, the record's fields after}, so that a
// transition costs one round trip: the worker makes two per message. The
// provider-id index key is built here from the record's provider, which
// the caller need not know; it is not declared in KEYS, which is fine on
// one Redis (smsq does not run on Redis Cluster).
var transitionScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'st')
if not cur then return {-1, '', {}} end
local ok = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == cur then ok = true end end
if not ok then return {0, cur, redis.call('HGETALL', KEYS[1])} end
local h = redis.call('HGET', KEYS[1], 'h') or ''
redis.call('HSET', KEYS[1], 'st', ARGV[1], 'u', ARGV[3], 'h', h .. ARGV[4])
if ARGV[7] == '1' then redis.call('HINCRBY', KEYS[1], 'at', 1) end
if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'er', ARGV[9]) end
if tonumber(ARGV[5]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
local prov = redis.call('HGET', KEYS[1], 'p') or ''
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'pid', ARGV[8])
  redis.call('SET', ARGV[13] .. prov .. ':' .. ARGV[8], ARGV[10], 'PX', math.max(tonumber(ARGV[5]), tonumber(ARGV[6])))
end
if tonumber(ARGV[11]) > 0 then
  local f = redis.call('HMGET', KEYS[1], 'pid', 'cb', 'er')
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[11], '*', 'id', ARGV[10], 'state', ARGV[1], 'from', cur,
    'source', ARGV[12], 'at', ARGV[3], 'provider', prov, 'pid', f[1] or '', 'cb', f[2] or '', 'error', f[3] or '')
end
return {1, cur, redis.call('HGETALL', KEYS[1])}`)

// Transition moves id to state to, if the state machine allows it from
// the record's current state. It returns the updated record. A refused move
// returns a *TransitionError (and the record as it is). One round trip.
func (l *Ledger) Transition(ctx context.Context, id string, to State, u Update) (Record, error) {
	if !to.Valid() {
		return Record{}, fmt.Errorf("ledger: unknown state %q", to)
	}
	now := l.o.Now()
	// A final record is kept for Retention; a submitted one for
	// SubmittedRetention, so that one whose provider never reports (no
	// status endpoint, no callback) does not stay in Redis for ever.
	var ttl time.Duration
	switch {
	case to.Final():
		ttl = l.o.Retention
	case to == Submitted:
		ttl = l.o.SubmittedRetention
	}
	att := "0"
	if u.Attempt {
		att = "1"
	}
	retention := l.o.Retention.Milliseconds()
	res, err := transitionScript.Run(ctx, l.rdb, []string{l.key(id), EventsKey(l.o.Prefix)},
		string(to), strings.Join(sourcesOf(to), ","), ms(now), histEntry(to, now, u.Source, u.Note),
		ttl.Milliseconds(), retention, att, u.ProviderID, u.Error, id, l.o.EventsMaxLen, string(u.Source),
		l.o.Prefix+"pid:").Slice()
	if err != nil {
		return Record{}, fmt.Errorf("ledger: transition %s to %s: %w", id, to, err)
	}
	if len(res) != 3 {
		return Record{}, fmt.Errorf("ledger: transition %s to %s: unexpected answer %v", id, to, res)
	}
	code, _ := res[0].(int64)
	cur, _ := res[1].(string)
	if code == -1 {
		return Record{}, ErrNotFound
	}
	rec := decode(id, flatMap(res[2]))
	if code == 0 {
		return rec, &TransitionError{ID: id, From: State(cur), To: to}
	}
	return rec, nil
}

// flatMap turns a script's HGETALL answer (field, value, field, value…)
// into a map.
func flatMap(v any) map[string]string {
	xs, _ := v.([]any)
	m := make(map[string]string, len(xs)/2)
	for i := 0; i+1 < len(xs); i += 2 {
		k, _ := xs[i].(string)
		val, _ := xs[i+1].(string)
		m[k] = val
	}
	return m
}

// ByProviderID returns the smsq id of a provider's message id.
func (l *Ledger) ByProviderID(ctx context.Context, provider, pid string) (string, error) {
	id, err := l.rdb.Get(ctx, l.pidKey(provider, pid)).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	return id, err
}
