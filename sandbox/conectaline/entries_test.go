package conectaline

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// referenceEntries decodes a messages field with encoding/json, keeping
// only lists of objects with exactly the keys number and message, both
// strings.
func referenceEntries(s string) ([]entry, bool) {
	var list []map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &list) != nil {
		return nil, false
	}
	out := make([]entry, 0, len(list))
	for _, o := range list {
		var e entry
		if len(o) != 2 || json.Unmarshal(o["number"], &e.number) != nil || json.Unmarshal(o["message"], &e.text) != nil {
			return nil, false
		}
		out = append(out, e)
	}
	return out, true
}

var entrySamples = []string{
	`[{"number":"34600100200","message":"Message 2"},{"number":"34600100202","message":"Message 3"}]`,
	` [ { "message" : "Hola, ¿qué tal?" , "number" : "243810000001" } ] `,
	`[]`,
	`[{"number":"34600100200","message":"a\"b"}]`,
	`[{"number":"34600100200","message":"a\u00e9"}]`,
	`[{"number":34600100200,"message":"x"}]`,
	`[{"Number":"34600100200","message":"x"}]`,
	`[{"number":"34600100200","message":"x","extra":1}]`,
	`[{"number":"34600100200","number":"1","message":"x"}]`,
	`[{"number":"+34600100200","message":"x"}]`,
	`[{"number":"34600100200","message":""}]`,
	`[{"number":"34600100200","message":"x"},]`,
	`[{"number":"34600100200","message":"x"}] x`,
	`[{"number":"34600100200","message":"x"}`,
	"[{\"number\":\"34600100200\",\"message\":\"a\x01b\"}]",
	"[{\"number\":\"34600100200\",\"message\":\"\xff\"}]",
	`{"number":"34600100200","message":"x"}`,
	`[null]`,
}

// TestQuickEntriesAgreesWithEncodingJSON: whatever the quick decoder
// takes, encoding/json takes too, with the same entries; what it leaves
// goes to encoding/json anyway.
func TestQuickEntriesAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	taken := 0
	for _, s := range entrySamples {
		got, ok := quickEntries(s)
		if !ok {
			continue
		}
		taken++
		want, wok := referenceEntries(s)
		require.True(t, wok, "quick decoder took %q, encoding/json refuses it", s)
		require.Equal(t, want, got, "entries of %q", s)
	}
	require.Equal(t, 3, taken, "the plain samples take the quick path")
}

func FuzzQuickEntries(f *testing.F) {
	for _, s := range entrySamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := quickEntries(s)
		if !ok {
			return
		}
		want, wok := referenceEntries(s)
		if !wok {
			t.Fatalf("quick decoder took %q, encoding/json refuses it", s)
		}
		require.Equal(t, want, got)
	})
}
