package conectaline

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

var encodeSamples = []string{
	"", "Hola Ana, tu pedido está listo", `comillas " y \ barra`, "línea\nnueva\r\ttab\b\f\x01\x1f\x7f",
	"<b>&amp;</b>", "\u2028\u2029", "bad \xff\xfe utf8 \xe2\x82", "emoji 😀 y ñ", "a+b=c&d e~f_g.h-i%",
}

// referenceJSON is what the adapter used to send: encoding/json without
// HTML escaping and without the trailing newline.
func referenceJSON(t testing.TB, v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(v))
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func TestHandEncodingMatchesStandardLibrary(t *testing.T) {
	t.Parallel()
	var entries []multipleEntry
	for i, s := range encodeSamples {
		require.Equal(t, referenceJSON(t, s), string(appendJSONString(nil, s)), "JSON of %q", s)
		require.Equal(t, url.QueryEscape(s), string(appendQueryEscape(nil, s)), "query escape of %q", s)
		entries = append(entries, multipleEntry{Number: "3460010020" + string(rune('0'+i)), Message: s})
	}
	require.Equal(t, referenceJSON(t, entries), string(appendEntries(nil, entries)))
	require.Equal(t, "[]", string(appendEntries(nil, nil)))

	form := url.Values{"messages": {string(appendEntries(nil, entries))}, "configuration_name": {"smsq sandbox"},
		"api_token": {"t/k+n"}, "multi": {"b", "a", "c"}}
	require.Equal(t, form.Encode(), string(encodeValues(form)))

	for _, tok := range []string{"", "t/k+n"} {
		for _, list := range [][]multipleEntry{entries, entries[:1], nil} {
			want := url.Values{"messages": {referenceJSON(t, append([]multipleEntry{}, list...))}, "configuration_name": {"smsq sandbox"}}
			if tok != "" {
				want.Set("api_token", tok)
			}
			require.Equal(t, want.Encode(), string(multipleBody(tok, "smsq sandbox", list)))
		}
	}
}

func FuzzHandEncoding(f *testing.F) {
	for _, s := range encodeSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		require.Equal(t, referenceJSON(t, s), string(appendJSONString(nil, s)))
		require.Equal(t, url.QueryEscape(s), string(appendQueryEscape(nil, s)))
	})
}
