package bench

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/smsq/smsq/internal/harness"
)

// commandsProcessed is total_commands_processed from INFO stats. Commands
// run inside Lua scripts count too, so a script is charged for every
// redis.call it makes.
func commandsProcessed(ctx context.Context, rdb redis.UniversalClient) int64 {
	n, _ := strconv.ParseInt(harness.InfoField(ctx, rdb, "stats", "total_commands_processed"), 10, 64)
	return n
}

// commandStats is one figure per command ("get", "evalsha", "hset", …)
// from INFO commandstats: field "calls" (how many) or "usec" (time spent;
// a script's own commands count in it and in EVALSHA).
func commandStats(ctx context.Context, rdb redis.UniversalClient, field string) map[string]int64 {
	out := map[string]int64{}
	s, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return out
	}
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, field+"="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				out[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return out
}

// topCommands renders the k commands that grew most from before to after,
// largest first, each as its upper-case name and growth ÷ per in format
// ("%s %.1f": the name, then the figure).
func topCommands(before, after map[string]int64, per, k int, format string) string {
	type grown struct {
		name string
		by   int64
	}
	var d []grown
	for name, n := range after {
		if x := n - before[name]; x > 0 {
			d = append(d, grown{name, x})
		}
	}
	sort.Slice(d, func(i, j int) bool { return d[i].by > d[j].by })
	var parts []string
	for i := 0; i < len(d) && i < k; i++ {
		parts = append(parts, fmt.Sprintf(format, strings.ToUpper(d[i].name), float64(d[i].by)/float64(per)))
	}
	return strings.Join(parts, ", ")
}
