package pacing_test

import (
	"testing"

	"github.com/smsq/smsq/pacing"
)

func BenchmarkSchedule(b *testing.B) {
	p, err := pacing.Parse(pacing.Spec{
		StartDate: "2026-03-02 09:00", TimeZone: "Europe/Madrid",
		SMSPerBlock: 1000, MinutesPerBlock: 10,
		Days: "1,2,3,4,5", TimeIntervals: "09:00-13:00,17:00-21:00",
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if n := len(p.Schedule(1_000_000, 0)); n != 1000 {
			b.Fatalf("%d blocks", n)
		}
	}
}
