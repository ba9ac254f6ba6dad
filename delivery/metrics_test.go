package delivery_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/delivery"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/providers"
)

// meter counts delivery reports as *metrics.Metrics would.
type meter struct {
	mu sync.Mutex
	n  map[string]int // "provider source state"
}

func (m *meter) DeliveryReport(provider, source, state string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == nil {
		m.n = map[string]int{}
	}
	m.n[provider+" "+source+" "+state]++
}

func (m *meter) counts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for k, v := range m.n {
		out[k] = v
	}
	return out
}

func TestEveryFinalReportIsCounted(t *testing.T) {
	t.Parallel()
	m := &meter{}
	f := newFixture(t, redistest.Start(t), func(o *delivery.Options) { o.Metrics = m; o.Expiry = time.Hour })
	ctx := context.Background()
	f.submitted(t, "m1", "keccel", "1000001")
	for _, rep := range []providers.DeliveryReport{
		report("1000001", providers.DeliveryDelivered, "DELIVERED"), // applied
		report("1000001", providers.DeliveryDelivered, "DELIVERED"), // a repeat
		report("1000001", providers.DeliveryPending, "PENDING"),     // not final: not a report to count
		report("2000002", providers.DeliveryFailed, "FAILED"),       // kept
	} {
		_, err := f.svc.Report(ctx, "keccel", rep, ledger.SourceCallback)
		require.NoError(t, err)
	}

	// Polls: one final answer, one expiry.
	f.poller.answer("s1", providers.DeliveryFailed, "undelivered", "MSG-019")
	require.NoError(t, f.svc.AfterSubmit(ctx, f.submitted(t, "m2", "sakari", "s1")))
	require.NoError(t, f.svc.AfterSubmit(ctx, f.submitted(t, "m3", "sakari", "s2")))
	f.clock.Advance(time.Hour)
	require.NoError(t, f.poll(t, "poll:m2:0"))
	require.NoError(t, f.poll(t, "poll:m3:0"))
	require.Equal(t, ledger.Expired, f.state(t, "m3").State)

	require.Equal(t, map[string]int{
		"keccel callback delivered": 2,
		"keccel callback failed":    1,
		"sakari poll failed":        1,
		"sakari poll expired":       1,
	}, m.counts())
}

func TestKeptReportsAreAppliedToCampaigns(t *testing.T) {
	t.Parallel()
	c := &campaigns{pids: map[string]bool{}}
	m := &meter{}
	f := newFixture(t, redistest.Start(t), func(o *delivery.Options) { o.Campaigns = c; o.Metrics = m })
	ctx := context.Background()
	for _, pid := range []string{"c-1", "c-2"} {
		out, err := f.svc.Report(ctx, "sakari", report(pid, providers.DeliveryDelivered, "delivered"), ledger.SourceCallback)
		require.NoError(t, err)
		require.Equal(t, delivery.Kept, out, "no campaign knows %s yet", pid)
	}

	// The campaign records c-1 (not c-2); its poller asks for the kept ones.
	c.mu.Lock()
	c.pids["c-1"] = true
	c.mu.Unlock()
	settled, err := f.svc.ApplyKept(ctx, "sakari", []string{"c-1", "c-2", "c-3"})
	require.NoError(t, err)
	require.Equal(t, []string{"c-1"}, settled)
	require.False(t, f.keptReport("sakari", "c-1"), "applied: dropped")
	require.True(t, f.keptReport("sakari", "c-2"), "still nobody's: kept")
	require.Len(t, c.settled, 1)
	require.Equal(t, providers.DeliveryDelivered, c.settled[0].State)
	require.Equal(t, map[string]int{"sakari callback delivered": 2}, m.counts(), "counted when received, not again")
}

// racingCampaigns records the id between the report's first look and
// its keep, as a block handler can.
type racingCampaigns struct {
	mu    sync.Mutex
	calls int
}

func (r *racingCampaigns) Settle(context.Context, string, providers.DeliveryReport, ledger.Source) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return r.calls > 1, nil
}

func TestCampaignRecordingDuringTheKeepStillGetsTheReport(t *testing.T) {
	t.Parallel()
	r := &racingCampaigns{}
	f := newFixture(t, redistest.Start(t), func(o *delivery.Options) { o.Campaigns = r })
	out, err := f.svc.Report(context.Background(), "keccel", report("1000009", providers.DeliveryDelivered, "DELIVERED"), ledger.SourceCallback)
	require.NoError(t, err)
	require.Equal(t, delivery.Applied, out)
	require.False(t, f.keptReport("keccel", "1000009"))
}
