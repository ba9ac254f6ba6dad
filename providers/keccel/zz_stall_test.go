package keccel

import (
	"context"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/smsq/smsq/providers"
	fake "github.com/smsq/smsq/sandbox/keccel"
)

func TestZZStall(t *testing.T) {
	t.Parallel()
	_, base := startFake(t, fake.Options{})
	c := newClient(t, base)
	for i := 0; i < 300; i++ {
		start := time.Now()
		_, err := c.Send(context.Background(), providers.Message{To: "+243851234567", Text: "x"})
		if d := time.Since(start); d > 700*time.Millisecond || err != nil {
			f, _ := os.Create("/tmp/stall_dump.txt")
			pprof.Lookup("goroutine").WriteTo(f, 2)
			f.Close()
			t.Fatalf("send took %v: %v", d, err)
		}
	}
}
