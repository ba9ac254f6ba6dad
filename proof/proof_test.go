package proof_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/smsq/smsq/internal/harness"
	"github.com/smsq/smsq/proof"
)

func TestMain(m *testing.M) {
	// The proofs dial a killed master on purpose and report what callers
	// saw; go-redis's own lines would only repeat it.
	harness.QuietRedis()
	goleak.VerifyTestMain(m)
}

// The proofs run one after the other, never in parallel: each measures
// provider rates and recovery times on a machine its processes share.

func TestScaleOutQuickSubmitsEveryRecipientOnceAcrossRollingRestarts(t *testing.T) {
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := proof.ScaleOut(ctx, proof.ScaleOutOptions{Common: proof.Common{Quick: true, Out: &out}})
	require.NoError(t, err, out.String())
	require.True(t, res.Report.OK(), out.String())

	require.Equal(t, 3, res.Restarts, "every worker was restarted once")
	require.Equal(t, res.Recipients, res.CampaignSubmitted)
	require.Zero(t, res.CampaignMissing)
	require.Zero(t, res.CampaignUnexpected)
	require.Equal(t, res.CampaignResent, res.CampaignExtra, "every duplicate is a recipient marked unknown")
	require.Equal(t, res.Singles, res.SinglesSubmitted)
	require.Zero(t, res.SinglesMissing)
	require.LessOrEqual(t, res.SinglesExtra, res.SinglesUnknown)
	require.Contains(t, out.String(), "keccel sustained rate")
}

func TestFailoverQuickRecoversAndAccountsForEveryMessage(t *testing.T) {
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := proof.Failover(ctx, proof.FailoverOptions{Common: proof.Common{Quick: true, Out: &out}})
	require.NoError(t, err, out.String())
	require.True(t, res.Report.OK(), out.String())

	require.NotEqual(t, res.OldMaster, res.NewMaster)
	require.Positive(t, res.Promotion)
	require.Positive(t, res.AcceptedBefore)
	require.Positive(t, res.AcceptedAfter)
	require.True(t, res.AfterRecoveryExact, "every message accepted after recovery is sent exactly once")
	require.Equal(t, res.Attempted, res.Accepted+res.Refused)
	// Loss is possible by design (asynchronous replication); it must be
	// counted, never hidden: accepted = sent + lost + still queued.
	require.GreaterOrEqual(t, res.Accepted, res.Lost+res.Unsettled)
	require.Contains(t, out.String(), "accepted and lost")
}

func TestProofsRefuseWithoutTheRedisBinaries(t *testing.T) {
	ctx := context.Background()
	real, lookErr := exec.LookPath("redis-server")
	t.Setenv("PATH", t.TempDir())
	_, err := proof.ScaleOut(ctx, proof.ScaleOutOptions{Common: proof.Common{Quick: true, Out: &strings.Builder{}}})
	require.ErrorIs(t, err, proof.ErrNoRedis)
	_, err = proof.Failover(ctx, proof.FailoverOptions{Common: proof.Common{Quick: true, Out: &strings.Builder{}}})
	require.ErrorIs(t, err, proof.ErrNoRedis)

	// redis-server alone is not enough for the failover proof.
	if lookErr != nil {
		return // nothing to link to; the case above is what matters
	}
	dir := t.TempDir()
	require.NoError(t, os.Symlink(real, filepath.Join(dir, "redis-server")))
	t.Setenv("PATH", dir)
	_, err = proof.Failover(ctx, proof.FailoverOptions{Common: proof.Common{Quick: true, Out: &strings.Builder{}}})
	require.ErrorIs(t, err, proof.ErrNoSentinel)
}
