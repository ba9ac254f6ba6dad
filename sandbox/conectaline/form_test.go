package conectaline

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var formSamples = []string{
	"api_token=t&configuration_name=smsq-sandbox&messages=%5B%7B%22number%22%3A%2234600100200%22%7D%5D",
	"a=1&a=2&b=&&c", "message=Hola+Ana%2C+%C2%BFqu%C3%A9+tal%3F", "k=%zz", "k=%4", "k=a;b", "k;x=1",
	"%6B=1", "k+y=1", "=v", "k==v", "k=%", "", "&", "numbers=346,347",
	strings.Repeat("k=v&", 20_000),
}

// TestParseFormAgreesWithParseQuery: same values and the same verdict as
// url.ParseQuery on every body.
func TestParseFormAgreesWithParseQuery(t *testing.T) {
	t.Parallel()
	for _, s := range formSamples {
		want, wantErr := url.ParseQuery(s)
		got, err := parseForm([]byte(s))
		require.Equal(t, wantErr != nil, err != nil, "error for %q", s)
		require.Equal(t, want, got, "values of %q", s)
	}
}

func FuzzParseForm(f *testing.F) {
	for _, s := range formSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, wantErr := url.ParseQuery(s)
		got, err := parseForm([]byte(s))
		require.Equal(t, wantErr != nil, err != nil)
		require.Equal(t, want, got)
	})
}
