package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/smsq/smsq/api"
)

// BenchmarkPostOne measures one message per request, end to end over
// loopback HTTP into a real Redis (validate, record, enqueue).
func BenchmarkPostOne(b *testing.B) {
	bd := setup(b, nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		a := bd.postJSON(b, "/v1/messages", fmt.Sprintf(`{"provider":"keccel","to":"+2438%08d","text":"code %d"}`, i, i))
		if a.code != http.StatusAccepted {
			b.Fatalf("status %d: %s", a.code, a.body)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPostBatch1000 measures 1000 messages per request.
func BenchmarkPostBatch1000(b *testing.B) {
	bd := setup(b, func(o *api.Options) { o.MaxBatch = 1000; o.MaxBodyBytes = 1 << 20 })
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		var sb strings.Builder
		sb.WriteString(`{"messages":[`)
		for j := range 1000 {
			if j > 0 {
				sb.WriteByte(',')
			}
			n++
			fmt.Fprintf(&sb, `{"provider":"keccel","to":"+2438%08d","text":"code %d"}`, n, n)
		}
		sb.WriteString(`]}`)
		a := bd.postJSON(b, "/v1/messages", sb.String())
		if a.code != http.StatusAccepted {
			b.Fatalf("status %d: %.300s", a.code, a.body)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "msgs/s")
}
