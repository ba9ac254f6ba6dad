package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/sandbox"
	sbconectaline "github.com/smsq/smsq/sandbox/conectaline"
	sbkaizala "github.com/smsq/smsq/sandbox/kaizala"
	sbkandy "github.com/smsq/smsq/sandbox/kandy"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	sbsakari "github.com/smsq/smsq/sandbox/sakari"
	"github.com/smsq/smsq/tasks"
)

// TestLogsNeverShowSecretsOrFullNumbers runs sends through every provider,
// including failures, retries, token expiry and rejections, with debug
// logging, and scans every line the worker wrote.
func TestLogsNeverShowSecretsOrFullNumbers(t *testing.T) {
	t.Parallel()
	b, h := setupHub(t)
	b.environ = append(b.environ, "SMSQ_LOG__LEVEL=debug", "SMSQ_SEND__RETRY_BASE=100ms", "SMSQ_SEND__RETRY_MAX=300ms", "SMSQ_SEND__MAX_ATTEMPTS=2")
	cfg, err := config.Load("", b.environ)
	require.NoError(t, err)
	b.cfg = cfg
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunWorker(ctx, b.cfg, logs, app.WorkerOptions{}) }()
	defer func() { cancel(); <-done }()

	numbers := map[string]string{
		"keccel": "+243812345678", "sakari": "+14155552671", "conectaline": "+34600100100", "kandy": "+14155552672",
	}
	unreachable := map[string]string{
		"keccel": "+243816666666", "sakari": "+14156666666", "conectaline": "+34666666666", "kandy": "+14155666666",
	}
	var ids []string
	send := func(p, to, id string) {
		var acc tasks.Accepted
		require.Zero(t, b.enqueue(t, &acc, "send", "-p", p, "-t", to, "-m", "secret scan", "--id", id))
		ids = append(ids, id)
	}
	for p, n := range numbers {
		send(p, n, "ok-"+p)
		send(p, unreachable[p], "bad-"+p)
	}
	send("kaizala", sbkaizala.DefaultGroup, "ok-kaizala")
	for _, id := range ids {
		waitFinal(t, b, id)
	}
	// Token expiry and provider failures, then more sends.
	for _, name := range h.Names() {
		h.Fake(name).ExpireTokens()
	}
	h.Keccel.Faults().Set(sandbox.Faults{ServerErrorRate: 1})
	send("keccel", "+243812345679", "fail-keccel")
	for p, n := range numbers {
		if p != "keccel" {
			send(p, n[:len(n)-1]+"9", "again-"+p)
		}
	}
	for _, id := range ids {
		waitFinal(t, b, id)
	}

	out := logs.String()
	require.Contains(t, out, "+243*******78", "numbers are logged, masked")
	require.Contains(t, out, "rejected by provider")
	require.Contains(t, out, "out of attempts")
	secrets := []string{sbkeccel.DefaultToken, sbsakari.DefaultClientSecret, sbconectaline.DefaultPassword,
		sbkaizala.DefaultApplicationSecret, sbkaizala.DefaultRefreshToken, sbkandy.DefaultDomainAPIKey, sbkandy.DefaultDomainAPISecret}
	for _, s := range secrets {
		require.NotContains(t, out, s, "a secret reached the logs")
	}
	all := []string{"+243812345679"}
	for _, n := range numbers {
		all = append(all, n, n[:len(n)-1]+"9")
	}
	for _, n := range unreachable {
		all = append(all, n)
	}
	for _, n := range all {
		digits := strings.TrimPrefix(n, "+")
		require.NotContains(t, out, digits, "a full phone number reached the logs")
		require.NotContains(t, out, digits[len(digits)-9:], "a national number reached the logs")
	}
}

func waitFinal(t *testing.T, b *bundle, id string) {
	t.Helper()
	l := ledger.New(b.redis.Client(), ledger.Options{})
	require.Eventually(t, func() bool {
		rec, err := l.Get(context.Background(), id)
		return err == nil && (rec.State.Final() || rec.State == ledger.Submitted)
	}, 60*time.Second, 20*time.Millisecond, "message %s never settled", id)
}
