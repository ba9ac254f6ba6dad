package campaign_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/pacing"
)

// FuzzCheck feeds arbitrary recipient files to the importer: it must never
// panic, and every row must be counted exactly once as sendable, bad or
// duplicate.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"phone,name\n+243812345678,Ana\n+243812345679,Bo\n",
		"phone,name\n+243812345678,Ana\n+243812345678,Ana\n",
		"to\n0812345678\nnot-a-number\n\n",
		"phone,name\n\"+243812345678\",\"multi\nline\"\n",
		"name\nAna\n",
		"\ufeffphone,name\n+34600100100,Ñandú\n",
		"phone,name\n+243812345678,\"unterminated\n",
	} {
		f.Add([]byte(s))
	}
	d := campaign.Definition{Name: "fuzz", Provider: "conectaline", Message: "Hola {{name}}",
		Pacing: pacing.Spec{StartDate: "2030-01-01 09:00", TimeZone: "Europe/Madrid"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := campaign.Check(context.Background(), d, bytes.NewReader(data), campaign.CreateOptions{})
		if err != nil {
			return
		}
		if rep.Sendable+rep.Bad+rep.Duplicates != rep.Rows {
			t.Fatalf("rows %d != sendable %d + bad %d + duplicates %d", rep.Rows, rep.Sendable, rep.Bad, rep.Duplicates)
		}
	})
}
