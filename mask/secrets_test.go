package mask_test

import (
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/mask"
)

func TestSecretsRedact(t *testing.T) {
	t.Parallel()
	var s mask.Secrets
	s.Add("tok-ABCDEF", "abc", "", "hunter22", "tok-ABCDEF") // short, empty and repeated values are ignored

	in := []byte("auth tok-ABCDEF failed; password hunter22 and hunter22; abc stays")
	out := s.Redact(in)
	require.Equal(t, "auth *** failed; password *** and ***; abc stays", string(out))
	require.Equal(t, "auth tok-ABCDEF failed; password hunter22 and hunter22; abc stays", string(in), "input untouched")

	clean := []byte("nothing secret here")
	require.Same(t, &clean[0], &s.Redact(clean)[0], "no secret: same slice, no copy")
}

func TestSecretsLongestWins(t *testing.T) {
	t.Parallel()
	var s mask.Secrets
	s.Add("abcd", "abcdefgh", "efghij")
	// At the same start the longer secret is removed whole; an overlapping
	// one starting later cannot reach into what was already replaced.
	require.Equal(t, "x *** y ***ij z ***", string(s.Redact([]byte("x abcdefgh y abcdefghij z efghij"))))
}

func TestSecretsZeroAndNil(t *testing.T) {
	t.Parallel()
	var s mask.Secrets
	in := []byte("hunter22")
	require.Equal(t, "hunter22", string(s.Redact(in)), "the zero value is an empty set")
	var none *mask.Secrets
	require.Equal(t, "hunter22", string(none.Redact(in)), "a nil set redacts nothing")
}

func TestSecretsConcurrentUse(t *testing.T) {
	t.Parallel()
	var s mask.Secrets
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 100 {
				s.Add("secret-" + strconv.Itoa(g) + "-" + strconv.Itoa(i))
			}
		}()
		go func() {
			defer wg.Done()
			for range 100 {
				s.Redact([]byte("line with secret-0-0 inside"))
			}
		}()
	}
	wg.Wait()
	require.Equal(t, "line with *** inside", string(s.Redact([]byte("line with secret-0-0 inside"))))
}
