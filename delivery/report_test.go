package delivery_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/delivery"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/providers"
)

func report(pid string, st providers.DeliveryState, raw string) providers.DeliveryReport {
	return providers.DeliveryReport{ProviderID: pid, State: st, Raw: raw}
}

func TestReport(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	delivered := report("p1", providers.DeliveryDelivered, "DELIVERED")
	for _, tc := range []struct {
		name string
		// before runs after the message m (provider id p1) is submitted.
		before  []providers.DeliveryReport
		rep     providers.DeliveryReport
		want    delivery.Outcome
		state   ledger.State
		note    string // of the final transition
		lastErr string
	}{
		{name: "delivered", rep: delivered, want: delivery.Applied, state: ledger.Delivered, note: "DELIVERED"},
		{name: "failed with reason", rep: providers.DeliveryReport{ProviderID: "p1", State: providers.DeliveryFailed, Raw: "FAILED", Reason: "MSG-019"},
			want: delivery.Applied, state: ledger.Failed, note: "FAILED", lastErr: "MSG-019"},
		{name: "repeat is harmless", before: []providers.DeliveryReport{delivered}, rep: delivered, want: delivery.Duplicate, state: ledger.Delivered, note: "DELIVERED"},
		{name: "a later contradicting report does not regress", before: []providers.DeliveryReport{delivered},
			rep: report("p1", providers.DeliveryFailed, "FAILED"), want: delivery.Duplicate, state: ledger.Delivered, note: "DELIVERED"},
		{name: "not final: nothing to do", rep: report("p1", providers.DeliveryPending, "sent"), want: delivery.Ignored, state: ledger.Submitted},
		{name: "unknown id word: nothing to do", rep: report("p1", providers.DeliveryUnknown, "received"), want: delivery.Ignored, state: ledger.Submitted},
		{name: "empty id: nothing to do", rep: report("", providers.DeliveryDelivered, "DELIVERED"), want: delivery.Ignored, state: ledger.Submitted},
		{name: "id not recorded yet: kept", rep: report("p-later", providers.DeliveryDelivered, "DELIVERED"), want: delivery.Kept, state: ledger.Submitted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, srv, nil)
			ctx := context.Background()
			id := f.prefix + "m"
			f.submitted(t, id, "keccel", "p1")
			for _, b := range tc.before {
				_, err := f.svc.Report(ctx, "keccel", b, ledger.SourceCallback)
				require.NoError(t, err)
			}
			out, err := f.svc.Report(ctx, "keccel", tc.rep, ledger.SourceCallback)
			require.NoError(t, err)
			require.Equal(t, tc.want, out)
			got := f.state(t, id)
			require.Equal(t, tc.state, got.State)
			require.Equal(t, tc.lastErr, got.LastError)
			require.LessOrEqual(t, count(got, ledger.Delivered)+count(got, ledger.Failed), 1, "one final transition at most")
			if tc.state.Final() {
				require.Equal(t, ledger.SourceCallback, lastTransition(got).Source)
				require.Equal(t, tc.note, lastTransition(got).Note, "the provider's own status word")
			}
			require.Equal(t, tc.want == delivery.Kept, f.keptReport("keccel", tc.rep.ProviderID))
		})
	}
}

func TestEarlyReportIsReconciledWhenTheSubmissionIsRecorded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, redistest.Start(t), nil)
	ctx := context.Background()

	// The provider's callback outruns the worker's ledger write.
	out, err := f.svc.Report(ctx, "keccel", report("1000001", providers.DeliveryFailed, "FAILED"), ledger.SourceCallback)
	require.NoError(t, err)
	require.Equal(t, delivery.Kept, out)
	require.True(t, f.keptReport("keccel", "1000001"))

	// A report for another provider's id with the same value is not ours.
	other := f.submitted(t, "s1", "sakari", "1000001")
	require.NoError(t, f.svc.AfterSubmit(ctx, other))
	require.Equal(t, ledger.Submitted, f.state(t, "s1").State)

	rec := f.submitted(t, "m1", "keccel", "1000001")
	require.NoError(t, f.svc.AfterSubmit(ctx, rec))
	got := f.state(t, "m1")
	require.Equal(t, ledger.Failed, got.State)
	require.Equal(t, ledger.SourceCallback, lastTransition(got).Source)
	require.Equal(t, "provider reported FAILED", got.LastError)
	require.False(t, f.keptReport("keccel", "1000001"), "a reconciled report is dropped")
	require.Nil(t, f.pollTask(t, "poll:m1:0"), "a final message needs no poll")
}

func TestPushCancelsThePendingPoll(t *testing.T) {
	t.Parallel()
	f := newFixture(t, redistest.Start(t), nil)
	ctx := context.Background()
	rec := f.submitted(t, "m1", "keccel", "1000001")
	require.NoError(t, f.svc.AfterSubmit(ctx, rec))
	require.NotNil(t, f.pollTask(t, "poll:m1:0"))

	out, err := f.svc.Report(ctx, "keccel", report("1000001", providers.DeliveryDelivered, "DELIVERED"), ledger.SourceCallback)
	require.NoError(t, err)
	require.Equal(t, delivery.Applied, out)
	require.Nil(t, f.pollTask(t, "poll:m1:0"), "the pending poll is deleted")
	require.Empty(t, f.pendingPoll("m1"))

	// A repeat finds nothing to cancel and changes nothing.
	out, err = f.svc.Report(ctx, "keccel", report("1000001", providers.DeliveryDelivered, "DELIVERED"), ledger.SourceCallback)
	require.NoError(t, err)
	require.Equal(t, delivery.Duplicate, out)
	require.Equal(t, 1, count(f.state(t, "m1"), ledger.Delivered))
}

func TestReportsForCampaignRecipientsGoToCampaigns(t *testing.T) {
	t.Parallel()
	c := &campaigns{pids: map[string]bool{"c-1": true}}
	f := newFixture(t, redistest.Start(t), func(o *delivery.Options) { o.Campaigns = c })
	ctx := context.Background()
	out, err := f.svc.Report(ctx, "sakari", report("c-1", providers.DeliveryDelivered, "delivered"), ledger.SourceCallback)
	require.NoError(t, err)
	require.Equal(t, delivery.Applied, out)
	require.Len(t, c.settled, 1)
	require.False(t, f.keptReport("sakari", "c-1"))

	out, err = f.svc.Report(ctx, "sakari", report("x-9", providers.DeliveryDelivered, "delivered"), ledger.SourceCallback)
	require.NoError(t, err)
	require.Equal(t, delivery.Kept, out, "neither ledger nor campaign: kept")
}
