package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// CampaignOwners records which API key created each campaign. The
// campaign store knows nothing of API keys, so the API keeps this beside
// it; *OwnerStore is one.
type CampaignOwners interface {
	// Claim records producer as the owner of campaign id unless it has
	// one; it reports whether this call recorded it.
	Claim(ctx context.Context, id, producer string) (bool, error)
	// Owner returns the owner of campaign id; "" when it has none (made by
	// the CLI, or before owners were recorded).
	Owner(ctx context.Context, id string) (string, error)
	// Release forgets the owner of id if it is producer (a create that
	// failed after Claim).
	Release(ctx context.Context, id, producer string) error
}

// OwnerStore keeps campaign owners in Redis, one small string key per
// campaign (Prefix+"api:campaign:<id>:owner"), kept as long as campaigns
// are: forever.
type OwnerStore struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ CampaignOwners = (*OwnerStore)(nil)

// NewOwnerStore returns an OwnerStore on rdb. prefix "" means "smsq:",
// the campaign store's default.
func NewOwnerStore(rdb redis.UniversalClient, prefix string) *OwnerStore {
	if prefix == "" {
		prefix = "smsq:"
	}
	return &OwnerStore{rdb: rdb, prefix: prefix}
}

func (s *OwnerStore) key(id string) string { return s.prefix + "api:campaign:" + id + ":owner" }

// Claim implements CampaignOwners.
func (s *OwnerStore) Claim(ctx context.Context, id, producer string) (bool, error) {
	if producer == "" {
		return false, errors.New("api: a campaign owner needs a name")
	}
	ok, err := s.rdb.SetNX(ctx, s.key(id), producer, 0).Result()
	if err != nil {
		return false, fmt.Errorf("api: claim campaign %s: %w", id, err)
	}
	return ok, nil
}

// Owner implements CampaignOwners.
func (s *OwnerStore) Owner(ctx context.Context, id string) (string, error) {
	v, err := s.rdb.Get(ctx, s.key(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("api: owner of campaign %s: %w", id, err)
	}
	return v, nil
}

// releaseScript deletes KEYS[1] if it holds ARGV[1].
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Release implements CampaignOwners.
func (s *OwnerStore) Release(ctx context.Context, id, producer string) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{s.key(id)}, producer).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("api: release campaign %s: %w", id, err)
	}
	return nil
}
