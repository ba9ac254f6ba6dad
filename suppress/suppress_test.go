package suppress_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/suppress"
)

func TestSuppressionList(t *testing.T) {
	t.Parallel()
	l := suppress.New(redistest.Start(t).Client(), "")
	ctx := context.Background()
	require.NoError(t, l.Add(ctx, "+243812345678", "+34600100100"))
	ok, err := l.Contains(ctx, "+243812345678")
	require.NoError(t, err)
	require.True(t, ok)
	many, err := l.ContainsMany(ctx, []string{"+34600100100", "+34600100101"})
	require.NoError(t, err)
	require.Equal(t, []bool{true, false}, many)
	require.NoError(t, l.Remove(ctx, "+34600100100"))
	n, err := l.Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
}

func TestContainsInSharesAPipeline(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client()
	l := suppress.New(rdb, "")
	ctx := context.Background()
	require.NoError(t, l.Add(ctx, "+243812345678"))
	pipe := rdb.Pipeline()
	yes, no := l.ContainsIn(ctx, pipe, "+243812345678"), l.ContainsIn(ctx, pipe, "+243812345679")
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	got, err := yes()
	require.NoError(t, err)
	require.True(t, got)
	got, err = no()
	require.NoError(t, err)
	require.False(t, got)
}
