package cli

import (
	"bytes"
	"testing"
)

// FuzzReadBulk: bulk files in either format never panic the reader, and
// every parsed row keeps a positive line number for the report.
func FuzzReadBulk(f *testing.F) {
	f.Add("f.csv", []byte("to,text\n+243812345678,hello\n"))
	f.Add("f.csv", []byte("to,text,provider\n\"+243\",\"a\"\"b\",keccel\n,\n"))
	f.Add("f.jsonl", []byte(`{"to":"+243812345678","text":"hi","provider":"keccel"}`+"\n{bad\n"))
	f.Add("f.jsonl", []byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		if name != "f.csv" && name != "f.jsonl" {
			name = "f.csv"
		}
		rows, bad, err := ReadBulk(name, bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.Line < 1 {
				t.Fatalf("row with line %d", r.Line)
			}
		}
		for _, b := range bad {
			if b.Line < 1 || b.Reason == "" {
				t.Fatalf("bad row without line or reason: %+v", b)
			}
		}
	})
}
