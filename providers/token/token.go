// Package token caches provider access tokens: fetched once for many
// concurrent callers (singleflight in a process, a short Redis lease across
// processes), shared by every worker through a Store, refreshed before they
// expire, and dropped when the provider refuses them.
package token

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Token is an access token and what came with it.
type Token struct {
	Value string `json:"v"`
	// Expiry is when the provider stops accepting Value; zero when unknown
	// (the token is used until refused).
	Expiry time.Time `json:"e,omitempty"`
	// Issued is when smsq fetched the token; set by Source.
	Issued time.Time `json:"i,omitempty"`
	// Extra holds data issued with the token that calls need, e.g. Kaizala's
	// endpointUrl or Kandy's device id.
	Extra map[string]string `json:"x,omitempty"`
}

// ErrRejected is what a call passed to Source.Use wraps when the provider
// refused the token (HTTP 401): Use then drops the token and tries once more.
var ErrRejected = errors.New("access token rejected by provider")

// Store keeps tokens where every worker process can see them.
type Store interface {
	// Get returns the token stored under key; ok is false when there is none.
	Get(ctx context.Context, key string) (tok Token, ok bool, err error)
	// Put stores tok under key for ttl (0: until dropped).
	Put(ctx context.Context, key string, tok Token, ttl time.Duration) error
	// Drop deletes key only if it still holds a token whose Value is value,
	// so that a stale refusal cannot drop a newer token.
	Drop(ctx context.Context, key, value string) error
	// Lock takes a lease on key for ttl. ok is false when another holder has
	// it. release gives it back early.
	Lock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
}

// FetchFunc asks the provider for a new token.
type FetchFunc func(ctx context.Context) (Token, error)

// Config configures a Source.
type Config struct {
	// Key names the token in the Store. Use Key(provider, credentials…) so a
	// credential change never reuses an old token. Required.
	Key string
	// Fetch gets a new token from the provider. Required.
	Fetch FetchFunc
	// Store shares tokens between processes. Nil: in-process memory.
	Store Store
	// RefreshBefore is how long before Expiry a token is replaced.
	// Zero: 10 % of its lifetime (Expiry - Issued), at most 5 minutes.
	RefreshBefore time.Duration
	// LockTTL bounds how long one process may hold the fetch lease; others
	// wait at most this long before fetching themselves. Zero: 15 s.
	LockTTL time.Duration
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

// Source hands out a valid token.
type Source struct {
	cfg Config
	sf  singleflight.Group

	mu  sync.Mutex
	cur Token
	has bool
}

// NewSource returns a Source; it panics on a missing Key or Fetch, which
// are programming errors.
func NewSource(cfg Config) *Source {
	if cfg.Key == "" || cfg.Fetch == nil {
		panic("token: Config.Key and Config.Fetch are required")
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Source{cfg: cfg}
}

// Key builds a store key from a provider name and its credentials; the
// credentials are hashed, never stored in clear.
func Key(provider string, credentials ...string) string {
	h := sha256.Sum256([]byte(strings.Join(credentials, "\x00")))
	return provider + ":" + hex.EncodeToString(h[:8])
}

func (s *Source) fresh(t Token) bool {
	if t.Value == "" {
		return false
	}
	if t.Expiry.IsZero() {
		return true
	}
	now := s.cfg.Now()
	early := s.cfg.RefreshBefore
	if early <= 0 {
		early = time.Minute
		if !t.Issued.IsZero() {
			early = min(t.Expiry.Sub(t.Issued)/10, 5*time.Minute)
		}
	}
	return now.Before(t.Expiry.Add(-early))
}

// Get returns a token that is not about to expire, fetching one if needed.
func (s *Source) Get(ctx context.Context) (Token, error) {
	s.mu.Lock()
	cur, has := s.cur, s.has
	s.mu.Unlock()
	if has && s.fresh(cur) {
		return cur, nil
	}
	ch := s.sf.DoChan("token", func() (any, error) {
		// One caller's cancellation must not fail the others waiting here.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*s.cfg.LockTTL)
		defer cancel()
		return s.load(fctx)
	})
	select {
	case <-ctx.Done():
		return Token{}, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return Token{}, r.Err
		}
		return r.Val.(Token), nil
	}
}

func (s *Source) load(ctx context.Context) (Token, error) {
	st := s.cfg.Store
	for {
		if t, ok, err := st.Get(ctx, s.cfg.Key); err != nil {
			return Token{}, fmt.Errorf("token store: %w", err)
		} else if ok && s.fresh(t) {
			s.remember(t)
			return t, nil
		}
		release, ok, err := st.Lock(ctx, s.cfg.Key+":lock", s.cfg.LockTTL)
		if err != nil {
			return Token{}, fmt.Errorf("token store: %w", err)
		}
		if ok {
			defer release()
			// Another process may have stored one between our read and the lease.
			if t, ok, err := st.Get(ctx, s.cfg.Key); err == nil && ok && s.fresh(t) {
				s.remember(t)
				return t, nil
			}
			t, err := s.cfg.Fetch(ctx)
			if err != nil {
				return Token{}, err
			}
			if t.Issued.IsZero() {
				t.Issued = s.cfg.Now()
			}
			var ttl time.Duration
			if !t.Expiry.IsZero() {
				if ttl = t.Expiry.Sub(s.cfg.Now()); ttl <= 0 {
					ttl = time.Second
				}
			}
			if err := st.Put(ctx, s.cfg.Key, t, ttl); err != nil {
				return Token{}, fmt.Errorf("token store: %w", err)
			}
			s.remember(t)
			return t, nil
		}
		// Someone else is fetching: wait for their token to appear.
		select {
		case <-ctx.Done():
			return Token{}, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (s *Source) remember(t Token) {
	s.mu.Lock()
	s.cur, s.has = t, true
	s.mu.Unlock()
}

// Invalidate forgets bad, here and in the Store, unless it has already been
// replaced.
func (s *Source) Invalidate(ctx context.Context, bad Token) error {
	s.mu.Lock()
	if s.has && s.cur.Value == bad.Value {
		s.has = false
		s.cur = Token{}
	}
	s.mu.Unlock()
	return s.cfg.Store.Drop(ctx, s.cfg.Key, bad.Value)
}

// Use calls call with a valid token. When call's error wraps ErrRejected,
// the token is invalidated and call runs once more with a new one.
func (s *Source) Use(ctx context.Context, call func(Token) error) error {
	t, err := s.Get(ctx)
	if err != nil {
		return err
	}
	err = call(t)
	if !errors.Is(err, ErrRejected) {
		return err
	}
	if ierr := s.Invalidate(ctx, t); ierr != nil {
		return errors.Join(err, ierr)
	}
	if t, err = s.Get(ctx); err != nil {
		return err
	}
	if err = call(t); errors.Is(err, ErrRejected) {
		// Refused twice: drop this one too so the next call starts afresh.
		_ = s.Invalidate(ctx, t)
	}
	return err
}
