package campaign

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/internal/redistest"
)

// markModel is what mark must do, written plainly: each index in turn
// moves from an allowed source state to the target, and the counters
// follow.
func markModel(states []byte, counts map[string]int64, to RecipientState, from []RecipientState, idx []int) (string, []byte) {
	out := make([]byte, len(idx))
	for k, i := range idx {
		for len(states) <= i {
			states = append(states, byte(Pending))
		}
		b := RecipientState(states[i])
		allowed := false
		for _, f := range from {
			allowed = allowed || f == b
		}
		out[k] = '0'
		if allowed && b != to {
			states[i] = byte(to)
			counts[b.String()]--
			counts[to.String()]++
			if b == Unknown && to == Sending {
				counts["resent"]++
			}
			out[k] = '1'
		}
	}
	return string(out), states
}

// TestMarkMatchesModel checks the mark script against markModel on
// random state strings and index lists: contiguous batches, sparse
// stragglers over a wide span, unsorted lists with repeats, and indices
// past the end of the stored string.
func TestMarkMatchesModel(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client()
	ctx := context.Background()
	s := NewStore(rdb, StoreOptions{})
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		id := fmt.Sprintf("m%d", round)
		k := s.keys(id)
		size := 1 + rng.IntN(12000)
		states := make([]byte, size)
		counts := map[string]int64{}
		// Every third round holds only sendable states, as a fresh block
		// does: whole runs move at once.
		plain := round%3 == 0
		for i := range states {
			states[i] = byte(rng.IntN(int(numRecipientStates)))
			if plain {
				states[i] = byte(Pending)
				if rng.IntN(50) == 0 {
					states[i] = byte(Unknown)
				}
			}
			counts[RecipientState(states[i]).String()]++
		}
		fields := map[string]any{}
		for name, n := range counts {
			fields["n:"+name] = n
		}
		require.NoError(t, rdb.Set(ctx, k.states, states, 0).Err())
		require.NoError(t, rdb.HSet(ctx, k.meta, fields).Err())

		var idx []int
		switch round % 4 {
		case 0: // one batch of neighbours, maybe running past the end
			lo := rng.IntN(size)
			for i := lo; i < lo+1+rng.IntN(1000); i++ {
				idx = append(idx, i)
			}
		case 1: // a few stragglers over the whole string
			for range 1 + rng.IntN(10) {
				idx = append(idx, rng.IntN(size))
			}
		case 2: // unsorted, with repeats
			for range 1 + rng.IntN(300) {
				idx = append(idx, rng.IntN(min(size, 500)))
			}
		case 3: // several runs with gaps
			at := rng.IntN(size)
			for range 1 + rng.IntN(8) {
				for range 1 + rng.IntN(50) {
					idx = append(idx, at)
					at++
				}
				at += rng.IntN(40)
			}
		}
		to := RecipientState(rng.IntN(int(numRecipientStates)))
		from := []RecipientState{RecipientState(rng.IntN(int(numRecipientStates))), RecipientState(rng.IntN(int(numRecipientStates)))}
		if plain || round%5 == 0 {
			to, from = Sending, []RecipientState{Pending, Unknown}
		}

		moved, err := s.mark(ctx, id, to, from, idx)
		require.NoError(t, err)
		wantOut, wantStates := markModel(append([]byte(nil), states...), counts, to, from, idx)
		gotOut := make([]byte, len(moved))
		for i, m := range moved {
			gotOut[i] = '0'
			if m {
				gotOut[i] = '1'
			}
		}
		require.Equal(t, wantOut, string(gotOut), "round %d: moved", round)
		got, err := rdb.Get(ctx, k.states).Bytes()
		require.NoError(t, err)
		for len(got) < len(wantStates) {
			got = append(got, byte(Pending))
		}
		require.Equal(t, wantStates, got[:len(wantStates)], "round %d: state bytes", round)
		require.Equal(t, make([]byte, len(got)-len(wantStates)), got[len(wantStates):], "round %d: bytes past the end", round)
		h, err := rdb.HGetAll(ctx, k.meta).Result()
		require.NoError(t, err)
		for _, st := range RecipientStates() {
			require.Equal(t, fmt.Sprint(counts[st.String()]), zeroIfEmpty(h["n:"+st.String()]), "round %d: counter %s", round, st)
		}
		require.Equal(t, fmt.Sprint(counts["resent"]), zeroIfEmpty(h["resent"]), "round %d: resent", round)
	}
}

func zeroIfEmpty(s string) string {
	if s == "" {
		return "0"
	}
	return s
}
