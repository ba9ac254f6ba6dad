package bench

import (
	"context"
	"errors"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/smsq/smsq/internal/harness"
)

// TableScenarios are the figures of the issue 8 table that the other
// scenarios do not cover: asynq's own ceiling, end-to-end throughput
// against it, latency under load, Redis memory per message and per
// recipient, and the 1,000,000-recipient import.
func TableScenarios() []Scenario {
	return []Scenario{
		{"ceiling", "asynq's own ceiling: a no-op handler at the workers' total concurrency, on the private Redis", runCeiling},
		{"throughput", "single sends end to end (enqueue → worker → sandbox → ledger) against asynq's ceiling: ratio ≥ 0.6", runThroughput},
		{"latency", "enqueue → provider latency of transactional sends under 200/s bulk load: p99 ≤ 200ms", runLatency},
		{"memory", "Redis memory per queued single message and per campaign recipient: ≤ 64 B", runMemory},
		{"import", "1,000,000-recipient CSV import through campaign.Store.Create: ≤ 10s", runImport},
		{"dispatch", "campaign dispatch, no pacing, no rate limit, 1000-recipient batches, per-recipient state: ≥ 200,000 recipients/s", runDispatch},
		{"lateness", "campaign block start lateness against the pacing schedule, with the scheduler and 3 workers: ≤ 1s", runLateness},
	}
}

// usedMemory is used_memory from INFO memory, in bytes.
func (e *env) usedMemory(ctx context.Context) (int64, error) {
	v := harness.InfoField(ctx, e.rdb, "memory", "used_memory")
	if v == "" {
		return 0, errors.New("no used_memory in INFO memory")
	}
	return strconv.ParseInt(v, 10, 64)
}

// loadAverage is the 1-minute load average, for the notes: the machine is
// shared, and the figures are only comparable with it in view.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func sortFloats(xs []float64) { sort.Float64s(xs) }
