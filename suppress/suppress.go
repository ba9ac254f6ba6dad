// Package suppress holds the opt-out list: numbers that must never be sent
// to, by single sends or campaigns. It is one Redis set of E.164 numbers.
package suppress

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// List is the suppression list.
type List struct {
	rdb redis.UniversalClient
	key string
}

// New returns the list stored under prefix+"suppressed" (prefix default "smsq:").
func New(rdb redis.UniversalClient, prefix string) *List {
	if prefix == "" {
		prefix = "smsq:"
	}
	return &List{rdb: rdb, key: prefix + "suppressed"}
}

// Add suppresses numbers (E.164).
func (l *List) Add(ctx context.Context, numbers ...string) error {
	if len(numbers) == 0 {
		return nil
	}
	args := make([]any, len(numbers))
	for i, n := range numbers {
		args[i] = n
	}
	return l.rdb.SAdd(ctx, l.key, args...).Err()
}

// Remove lifts the suppression of numbers.
func (l *List) Remove(ctx context.Context, numbers ...string) error {
	if len(numbers) == 0 {
		return nil
	}
	args := make([]any, len(numbers))
	for i, n := range numbers {
		args[i] = n
	}
	return l.rdb.SRem(ctx, l.key, args...).Err()
}

// Contains reports whether number is suppressed.
func (l *List) Contains(ctx context.Context, number string) (bool, error) {
	return l.rdb.SIsMember(ctx, l.key, number).Result()
}

// ContainsIn queues the check of number on p, a pipeline on the list's
// Redis, so that it shares a round trip with other reads; the function it
// returns answers once p has run.
func (l *List) ContainsIn(ctx context.Context, p redis.Pipeliner, number string) func() (bool, error) {
	cmd := p.SIsMember(ctx, l.key, number)
	return cmd.Result
}

// ContainsMany reports, for each number, whether it is suppressed, in one
// round trip.
func (l *List) ContainsMany(ctx context.Context, numbers []string) ([]bool, error) {
	if len(numbers) == 0 {
		return nil, nil
	}
	args := make([]any, len(numbers))
	for i, n := range numbers {
		args[i] = n
	}
	return l.rdb.SMIsMember(ctx, l.key, args...).Result()
}

// Count is how many numbers are suppressed.
func (l *List) Count(ctx context.Context) (int64, error) { return l.rdb.SCard(ctx, l.key).Result() }
