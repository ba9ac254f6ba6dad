package token

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore shares tokens between processes through Redis. Tokens are
// secrets: they live only under Prefix and are never logged.
type RedisStore struct {
	Client redis.UniversalClient
	// Prefix of every key. Empty: "smsq:token:".
	Prefix string
}

var _ Store = (*RedisStore)(nil)

func (s *RedisStore) k(key string) string {
	if s.Prefix == "" {
		return "smsq:token:" + key
	}
	return s.Prefix + key
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, key string) (Token, bool, error) {
	b, err := s.Client.HGet(ctx, s.k(key), "j").Bytes()
	if errors.Is(err, redis.Nil) {
		return Token{}, false, nil
	}
	if err != nil {
		return Token{}, false, err
	}
	var t Token
	if err := json.Unmarshal(b, &t); err != nil {
		return Token{}, false, nil // unreadable entry: treat as absent, it will be replaced
	}
	return t, true, nil
}

// Put implements Store.
func (s *RedisStore) Put(ctx context.Context, key string, t Token, ttl time.Duration) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	k := s.k(key)
	_, err = s.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, "v", t.Value, "j", b)
		if ttl > 0 {
			p.PExpire(ctx, k, ttl)
		}
		return nil
	})
	return err
}

var dropScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'v') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Drop implements Store.
func (s *RedisStore) Drop(ctx context.Context, key, value string) error {
	return dropScript.Run(ctx, s.Client, []string{s.k(key)}, value).Err()
}

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Lock implements Store.
func (s *RedisStore) Lock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	owner := randomID()
	k := s.k(key)
	ok, err := s.Client.SetNX(ctx, k, owner, ttl).Result()
	if err != nil || !ok {
		return func() {}, false, err
	}
	return func() {
		_ = unlockScript.Run(context.WithoutCancel(ctx), s.Client, []string{k}, owner).Err()
	}, true, nil
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// MemoryStore is a Store for a single process (tests, one-off CLI calls).
type MemoryStore struct {
	mu    sync.Mutex
	toks  map[string]memEntry
	locks map[string]time.Time
	now   func() time.Time
}

type memEntry struct {
	tok   Token
	until time.Time
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty in-process store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{toks: map[string]memEntry{}, locks: map[string]time.Time{}, now: time.Now}
}

// Get implements Store.
func (m *MemoryStore) Get(_ context.Context, key string) (Token, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.toks[key]
	if !ok || (!e.until.IsZero() && !m.now().Before(e.until)) {
		return Token{}, false, nil
	}
	return e.tok, true, nil
}

// Put implements Store.
func (m *MemoryStore) Put(_ context.Context, key string, t Token, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := memEntry{tok: t}
	if ttl > 0 {
		e.until = m.now().Add(ttl)
	}
	m.toks[key] = e
	return nil
}

// Drop implements Store.
func (m *MemoryStore) Drop(_ context.Context, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.toks[key]; ok && e.tok.Value == value {
		delete(m.toks, key)
	}
	return nil
}

// Lock implements Store.
func (m *MemoryStore) Lock(_ context.Context, key string, ttl time.Duration) (func(), bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if until, ok := m.locks[key]; ok && m.now().Before(until) {
		return func() {}, false, nil
	}
	m.locks[key] = m.now().Add(ttl)
	return func() {
		m.mu.Lock()
		delete(m.locks, key)
		m.mu.Unlock()
	}, true, nil
}
