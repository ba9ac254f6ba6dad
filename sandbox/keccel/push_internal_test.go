package keccel

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCallbackURLKeepsTheRegisteredQuery(t *testing.T) {
	t.Parallel()
	x := push{id: "1000001", status: "DELIVERED"}
	for base, want := range map[string]string{
		"https://example.test/dlr":        "https://example.test/dlr?messageID=1000001&status=DELIVERED",
		"https://example.test/dlr?":       "https://example.test/dlr?messageID=1000001&status=DELIVERED",
		"https://example.test/dlr?k=v":    "https://example.test/dlr?k=v&messageID=1000001&status=DELIVERED",
		"https://example.test/dlr?k=v&":   "https://example.test/dlr?k=v&messageID=1000001&status=DELIVERED",
		"https://example.test/a.asp?x=1&": "https://example.test/a.asp?x=1&messageID=1000001&status=DELIVERED",
	} {
		require.Equal(t, want, callbackURL(base, x), base)
	}
}
