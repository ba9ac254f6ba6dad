package throttle_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/throttle"
)

// cmdCounter counts Redis commands and round trips.
type cmdCounter struct{ cmds, trips atomic.Int64 }

func (c *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.cmds.Add(1)
		c.trips.Add(1)
		return next(ctx, cmd)
	}
}

func (c *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.cmds.Add(int64(len(cmds)))
		c.trips.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkGuardDo measures admission against a real Redis with the real
// clock. The rates are high enough that no call waits, so this is the
// cost the Guard adds to every provider call.
func BenchmarkGuardDo(b *testing.B) {
	for _, bc := range []struct {
		name string
		pc   throttle.ProviderConfig
	}{
		{"limited", throttle.ProviderConfig{Rate: "1000000/s", Burst: 1 << 20}},
		{"unlimited", throttle.ProviderConfig{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := redistest.Start(b)
			rdb := srv.Client()
			counter := &cmdCounter{}
			rdb.AddHook(counter)
			g, err := throttle.New(rdb, throttle.Config{Providers: map[string]throttle.ProviderConfig{"sakari": bc.pc}})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			fn := func(context.Context) error { return nil }
			run := func(i int) {
				if err := g.Do(ctx, throttle.Call{Provider: "sakari", Key: strconv.Itoa(i), Cost: 1}, fn); err != nil {
					b.Error(err) // may run on RunParallel goroutines: no Fatal
				}
			}
			run(-1) // load the script
			counter.cmds.Store(0)
			counter.trips.Store(0)

			b.Run("serial", func(b *testing.B) {
				counter.cmds.Store(0)
				counter.trips.Store(0)
				for i := 0; b.Loop(); i++ {
					run(i)
				}
				b.ReportMetric(float64(counter.cmds.Load())/float64(b.N), "redis-cmds/op")
				b.ReportMetric(float64(counter.trips.Load())/float64(b.N), "redis-trips/op")
			})
			b.Run("parallel", func(b *testing.B) {
				counter.cmds.Store(0)
				counter.trips.Store(0)
				var n atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						run(int(n.Add(1)))
					}
				})
				b.ReportMetric(float64(counter.cmds.Load())/float64(b.N), "redis-cmds/op")
			})
		})
	}
}

// BenchmarkRedisPing is the floor BenchmarkGuardDo is measured against: one
// bare round trip to the same kind of Redis.
func BenchmarkRedisPing(b *testing.B) {
	rdb := redistest.Start(b).Client()
	ctx := context.Background()
	for b.Loop() {
		if err := rdb.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
