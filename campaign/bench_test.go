package campaign

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/pacing"
	"github.com/smsq/smsq/providers"
	"github.com/smsq/smsq/providers/conectaline"
	sbconectaline "github.com/smsq/smsq/sandbox/conectaline"
	"github.com/smsq/smsq/sms"
	"github.com/smsq/smsq/suppress"
	"github.com/smsq/smsq/throttle"
)

const million = 1_000_000

var millionFiles = sync.OnceValues(func() ([]byte, []byte) {
	var withName, phoneOnly bytes.Buffer
	withName.WriteString("phone,name\n")
	phoneOnly.WriteString("phone\n")
	for i := range million {
		// sms.ExampleNumber("CD", i) is +24381 and i in 7 digits; written
		// out directly because ExampleNumber validates each (~30µs).
		n := fmt.Sprintf("+24381%07d", i)
		fmt.Fprintf(&withName, "%s,Person %d\n", n, i)
		phoneOnly.WriteString(n + "\n")
	}
	return withName.Bytes(), phoneOnly.Bytes()
})

// BenchmarkImportMillion imports a 1,000,000-recipient CSV (1000 of them
// on the suppression list) and reports the Redis memory it takes per
// recipient: used_memory before and after, and the campaign's keys by
// MEMORY USAGE.
func BenchmarkImportMillion(b *testing.B) {
	for i := 0; i < million; i += 99_991 {
		if got, want := fmt.Sprintf("+24381%07d", i), sms.ExampleNumber("CD", i); got != want {
			b.Fatalf("number %d: %s, ExampleNumber gives %s", i, got, want)
		}
	}
	withName, phoneOnly := millionFiles()
	for _, bc := range []struct {
		name, message string
		file          []byte
	}{
		{"with-name", "Hola {{name}}, tu pedido está listo", withName},
		{"phone-only", "Tu pedido está listo", phoneOnly},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := redistest.Start(b)
			rdb := srv.Client()
			ctx := context.Background()
			store := NewStore(rdb, StoreOptions{})
			sup := suppress.New(rdb, "")
			var used, keyBytes float64
			for b.Loop() {
				b.StopTimer()
				if err := rdb.FlushDB(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				var blocked []string
				for i := 0; i < million; i += 1000 {
					blocked = append(blocked, fmt.Sprintf("+24381%07d", i))
				}
				if err := sup.Add(ctx, blocked...); err != nil {
					b.Fatal(err)
				}
				before := usedMemory(b, rdb)
				b.StartTimer()
				rep, err := store.Create(ctx, Definition{ID: "million", Provider: "conectaline", Message: bc.message,
					Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC", SMSPerBlock: 1000, MinutesPerBlock: 1}},
					bytes.NewReader(bc.file), CreateOptions{ImportOptions: ImportOptions{Suppress: sup}})
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if rep.Recipients != million || rep.Suppressed != 1000 {
					b.Fatalf("report: %+v", rep)
				}
				used = float64(usedMemory(b, rdb)-before) / million
				keyBytes = float64(campaignKeyBytes(b, rdb, "million")) / million
				b.StartTimer()
			}
			b.ReportMetric(used, "used_memory-B/recipient")
			b.ReportMetric(keyBytes, "key-B/recipient")
		})
	}
}

func usedMemory(b *testing.B, rdb *redis.Client) int64 {
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}

// campaignKeyBytes sums MEMORY USAGE over the campaign's keys.
func campaignKeyBytes(b *testing.B, rdb *redis.Client, id string) int64 {
	ctx := context.Background()
	var names []string
	iter := rdb.Scan(ctx, 0, "smsq:c:{"+id+"}*", 1000).Iterator()
	for iter.Next(ctx) {
		names = append(names, iter.Val())
	}
	if err := iter.Err(); err != nil {
		b.Fatal(err)
	}
	cmds := make([]*redis.IntCmd, len(names))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			cmds[i] = p.MemoryUsage(ctx, n, 0)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, c := range cmds {
		total += c.Val()
	}
	return total
}

// BenchmarkDeliveryIndex records provider ids for every recipient of a
// campaign, as the block handler does for a provider that reports
// delivery, and reports the Redis memory that costs per recipient while
// the reports are awaited: the campaign's recipient → id hashes, the
// global id → recipient index, and used_memory overall. Keccel ids are
// 7-digit numbers, Sakari ids 24 hex digits.
func BenchmarkDeliveryIndex(b *testing.B) {
	for _, bc := range []struct {
		name     string
		provider string
		n        int
		pid      func(i int) string
	}{
		{"keccel-10k", "keccel", 10_000, func(i int) string { return strconv.Itoa(1_000_001 + i) }},
		{"keccel-1M", "keccel", million, func(i int) string { return strconv.Itoa(1_000_001 + i) }},
		{"sakari-1M", "sakari", million, func(i int) string { return fmt.Sprintf("6a1f%020x", uint64(i)*0x9e3779b97f4a7c15>>8) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := redistest.Start(b)
			rdb := srv.Client()
			ctx := context.Background()
			store := NewStore(rdb, StoreOptions{})
			c := &Campaign{Definition: Definition{ID: "idx", Provider: bc.provider}, Total: bc.n}
			var used, campaignBytes, indexBytes float64
			for b.Loop() {
				b.StopTimer()
				if err := rdb.FlushDB(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				store = NewStore(rdb, StoreOptions{})
				before := usedMemory(b, rdb)
				b.StartTimer()
				for lo := 0; lo < bc.n; lo += 1000 {
					pids := make(map[string]int, 1000)
					for i := lo; i < min(lo+1000, bc.n); i++ {
						pids[bc.pid(i)] = i
					}
					if err := store.recordProviderIDs(ctx, c, pids); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				used = float64(usedMemory(b, rdb)-before) / float64(bc.n)
				campaignBytes = float64(keyBytes(b, rdb, "smsq:c:{idx}:d:*")) / float64(bc.n)
				indexBytes = float64(keyBytes(b, rdb, "smsq:dlx:*")) / float64(bc.n)
				id, idx, ok, err := store.LookupProviderID(ctx, bc.provider, bc.pid(bc.n/2))
				if err != nil || !ok || id != "idx" || idx != bc.n/2 {
					b.Fatalf("lookup: %s %d %v %v", id, idx, ok, err)
				}
				b.StartTimer()
			}
			b.ReportMetric(used, "used_memory-B/recipient")
			b.ReportMetric(campaignBytes, "campaign-B/recipient")
			b.ReportMetric(indexBytes, "index-B/recipient")
		})
	}
}

// keyBytes sums MEMORY USAGE over the keys matching pattern.
func keyBytes(b *testing.B, rdb *redis.Client, pattern string) int64 {
	ctx := context.Background()
	var total int64
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	var names []string
	for iter.Next(ctx) {
		names = append(names, iter.Val())
	}
	if err := iter.Err(); err != nil {
		b.Fatal(err)
	}
	for start := 0; start < len(names); start += 1000 {
		cmds := make([]*redis.IntCmd, 0, 1000)
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, n := range names[start:min(start+1000, len(names))] {
				cmds = append(cmds, p.MemoryUsage(ctx, n, 0))
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		for _, c := range cmds {
			total += c.Val()
		}
	}
	return total
}

// captureEnqueuer keeps the block tasks the handler enqueues, for a
// benchmark that runs them itself in order.
type captureEnqueuer struct {
	mu    sync.Mutex
	tasks []*asynq.Task
}

func (c *captureEnqueuer) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	c.mu.Lock()
	c.tasks = append(c.tasks, t)
	c.mu.Unlock()
	return &asynq.TaskInfo{}, nil
}

func (c *captureEnqueuer) pop() *asynq.Task {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tasks) == 0 {
		return nil
	}
	t := c.tasks[0]
	c.tasks = c.tasks[1:]
	return t
}

// BenchmarkDispatch sends unpaced campaigns of personalised texts through
// the block Handler, the Conectaline adapter (push/multiple, 1000 per
// call) and the Conectaline fake over loopback HTTP, with a real Redis and
// an unlimited throttle guard: what one worker process does per recipient,
// plus the fake. Campaigns run in parallel, one goroutine each, as they
// would on a worker's task slots; every block is run as soon as the
// previous one enqueues it.
func BenchmarkDispatch(b *testing.B) {
	const campaigns, per = 4, 25_000
	srv := redistest.Start(b)
	rdb := srv.Client()
	ctx := context.Background()
	fake := sbconectaline.New(sbconectaline.Options{})
	fake.Recorder().KeepMessages(false)
	fake.Recorder().MaxRequests = 10
	hs := httptest.NewServer(fake)
	b.Cleanup(hs.Close)
	client, err := conectaline.New(conectaline.Options{BaseURL: hs.URL + "/v1", APIToken: sbconectaline.DefaultAPIToken,
		ConfigurationName: sbconectaline.DefaultConfigurationName}, providers.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	guard, err := throttle.New(rdb, throttle.Config{Providers: map[string]throttle.ProviderConfig{"conectaline": {}}})
	if err != nil {
		b.Fatal(err)
	}
	files := make([][]byte, campaigns)
	for j := range files {
		var f bytes.Buffer
		f.WriteString("phone,name\n")
		for i := range per {
			fmt.Fprintf(&f, "+24381%07d,Cliente %d\n", j*per+i+1_000_000, i)
		}
		files[j] = f.Bytes()
	}
	store := NewStore(rdb, StoreOptions{})
	round := 0
	var sent int
	for b.Loop() {
		b.StopTimer()
		if err := rdb.FlushDB(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		fake.Recorder().Clear()
		round++
		enqs := make([]*captureEnqueuer, campaigns)
		hs := make([]*Handler, campaigns)
		cs := make([]*Campaign, campaigns)
		for j := range campaigns {
			id := fmt.Sprintf("bench-%d-%d", round, j)
			_, err := store.Create(ctx, Definition{ID: id, Provider: "conectaline", Message: "Hola {{name}}, tu pedido está listo",
				Pacing: pacing.Spec{StartDate: "2020-01-01 00:00", TimeZone: "UTC"}}, bytes.NewReader(files[j]), CreateOptions{})
			if err != nil {
				b.Fatal(err)
			}
			enqs[j] = &captureEnqueuer{}
			hs[j], err = NewHandler(HandlerOptions{Store: store, Senders: map[string]providers.Sender{"conectaline": client},
				Guard: guard, Enqueuer: enqs[j]})
			if err != nil {
				b.Fatal(err)
			}
			if cs[j], err = store.Get(ctx, id); err != nil {
				b.Fatal(err)
			}
			if _, err := hs[j].d.advance(ctx, cs[j], time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		var wg sync.WaitGroup
		errs := make([]error, campaigns)
		for j := range campaigns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for t := enqs[j].pop(); t != nil; t = enqs[j].pop() {
					if err := hs[j].ProcessTask(ctx, t); err != nil {
						errs[j] = err
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		for j, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
			c, err := store.Get(ctx, cs[j].ID)
			if err != nil {
				b.Fatal(err)
			}
			if c.State != Done || c.Counts[Submitted.String()] != per {
				b.Fatalf("campaign %s: %s, counts %v", c.ID, c.State, c.Counts)
			}
		}
		if got := fake.Recorder().AcceptedCount(); got != campaigns*per {
			b.Fatalf("fake accepted %d of %d", got, campaigns*per)
		}
		sent += campaigns * per
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sent), "ns/recipient")
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "recipients/s")
}

// BenchmarkMark moves a batch of 1000 neighbours pending → sending →
// submitted, as every batch of a block does.
func BenchmarkMark(b *testing.B) {
	rdb := redistest.Start(b).Client()
	ctx := context.Background()
	s := NewStore(rdb, StoreOptions{})
	k := s.keys("m")
	const n = 1_000_000
	if err := rdb.Set(ctx, k.states, make([]byte, n), 0).Err(); err != nil {
		b.Fatal(err)
	}
	batch := make([]int, 1000)
	lo := 0
	for b.Loop() {
		if lo+1000 > n {
			b.StopTimer()
			if err := rdb.Set(ctx, k.states, make([]byte, n), 0).Err(); err != nil {
				b.Fatal(err)
			}
			lo = 0
			b.StartTimer()
		}
		for i := range batch {
			batch[i] = lo + i
		}
		if _, err := s.mark(ctx, "m", Sending, sendable, batch); err != nil {
			b.Fatal(err)
		}
		if _, err := s.mark(ctx, "m", Submitted, []RecipientState{Sending}, batch); err != nil {
			b.Fatal(err)
		}
		lo += 1000
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/recipient")
}
