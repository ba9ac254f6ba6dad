package e2e

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	sbconectaline "github.com/smsq/smsq/sandbox/conectaline"
	"github.com/smsq/smsq/sandbox/hub"
	sbkaizala "github.com/smsq/smsq/sandbox/kaizala"
	sbkandy "github.com/smsq/smsq/sandbox/kandy"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	sbsakari "github.com/smsq/smsq/sandbox/sakari"
	"github.com/smsq/smsq/tasks"
)

// hubEnviron configures all five providers against a sandbox hub, by base
// URL and credentials only — as a user would point smsq at any server
// implementing the providers' documents.
func hubEnviron(redisURL, root string) []string {
	return []string{
		"SMSQ_REDIS__URL=" + redisURL,
		"SMSQ_WORKER__HTTP_ADDR=-",
		"SMSQ_LOG__LEVEL=warn",
		"SMSQ_PROVIDERS__KECCEL__ENABLED=true",
		"SMSQ_PROVIDERS__KECCEL__BASE_URL=" + hub.BaseURL(root, "keccel"),
		"SMSQ_PROVIDERS__KECCEL__TOKEN=" + sbkeccel.DefaultToken,
		"SMSQ_PROVIDERS__KECCEL__FROM=SMSQ",
		"SMSQ_PROVIDERS__SAKARI__ENABLED=true",
		"SMSQ_PROVIDERS__SAKARI__BASE_URL=" + hub.BaseURL(root, "sakari"),
		"SMSQ_PROVIDERS__SAKARI__CLIENT_ID=" + sbsakari.DefaultClientID,
		"SMSQ_PROVIDERS__SAKARI__CLIENT_SECRET=" + sbsakari.DefaultClientSecret,
		"SMSQ_PROVIDERS__SAKARI__ACCOUNT_ID=" + sbsakari.DefaultAccountID,
		"SMSQ_PROVIDERS__CONECTALINE__ENABLED=true",
		"SMSQ_PROVIDERS__CONECTALINE__BASE_URL=" + hub.BaseURL(root, "conectaline"),
		"SMSQ_PROVIDERS__CONECTALINE__EMAIL=" + sbconectaline.DefaultEmail,
		"SMSQ_PROVIDERS__CONECTALINE__PASSWORD=" + sbconectaline.DefaultPassword,
		"SMSQ_PROVIDERS__CONECTALINE__CONFIGURATION_NAME=" + sbconectaline.DefaultConfigurationName,
		"SMSQ_PROVIDERS__KAIZALA__ENABLED=true",
		"SMSQ_PROVIDERS__KAIZALA__BASE_URL=" + hub.BaseURL(root, "kaizala"),
		"SMSQ_PROVIDERS__KAIZALA__APPLICATION_ID=" + sbkaizala.DefaultApplicationID,
		"SMSQ_PROVIDERS__KAIZALA__APPLICATION_SECRET=" + sbkaizala.DefaultApplicationSecret,
		"SMSQ_PROVIDERS__KAIZALA__REFRESH_TOKEN=" + sbkaizala.DefaultRefreshToken,
		"SMSQ_PROVIDERS__KANDY__ENABLED=true",
		"SMSQ_PROVIDERS__KANDY__BASE_URL=" + hub.BaseURL(root, "kandy"),
		"SMSQ_PROVIDERS__KANDY__DOMAIN_API_KEY=" + sbkandy.DefaultDomainAPIKey,
		"SMSQ_PROVIDERS__KANDY__DOMAIN_API_SECRET=" + sbkandy.DefaultDomainAPISecret,
		"SMSQ_PROVIDERS__KANDY__USER_ID=" + sbkandy.DefaultUserID,
		"SMSQ_PROVIDERS__KANDY__SOURCE=+14155550100",
	}
}

func setupHub(t *testing.T) (*bundle, *hub.Hub) {
	t.Helper()
	h := hub.New(hub.Options{KeepMessages: true})
	hs := httptest.NewServer(h)
	t.Cleanup(func() { hs.Close(); h.Close() })
	b := &bundle{redis: redistest.Start(t)}
	b.environ = hubEnviron(b.redis.URL(), hs.URL)
	cfg, err := config.Load("", b.environ)
	require.NoError(t, err)
	b.cfg = cfg
	return b, h
}

func TestEveryProviderThroughTheSandbox(t *testing.T) {
	t.Parallel()
	b, h := setupHub(t)
	b.startWorker(t)
	sends := map[string][]string{
		"keccel":      {"-t", "+243812345678"},
		"sakari":      {"-t", "+14155552671"},
		"conectaline": {"-t", "+34600100100"},
		"kandy":       {"-t", "+14155552672"},
		"kaizala":     {"-t", sbkaizala.DefaultGroup, "--subscribers", "+14155552673"},
	}
	for name, args := range sends {
		var acc tasks.Accepted
		require.Zero(t, b.enqueue(t, &acc, append([]string{"send", "-p", name, "-m", "hello from " + name, "--id", "each-" + name}, args...)...), name)
	}
	for name := range sends {
		rec := b.waitState(t, "each-"+name, ledger.Submitted)
		fake := h.Fake(name)
		acc := fake.Recorder().Accepted()
		require.Len(t, acc, 1, name)
		require.Equal(t, "hello from "+name, acc[0].Text, name)
		switch name {
		case "kandy":
			require.Empty(t, rec.ProviderID, "Kandy returns no id")
		default:
			require.NotEmpty(t, rec.ProviderID, name)
			if acc[0].ID != "" {
				require.Equal(t, acc[0].ID, rec.ProviderID, name)
			}
		}
	}
	// The human status output names smsq's own id when the provider gives none.
	var out strings.Builder
	code := runCLI(b, &out, "status", "each-kandy")
	require.Zero(t, code)
	require.Contains(t, out.String(), "each-kandy (provider returns no id; smsq's id is used)")
}

func TestBalanceCommand(t *testing.T) {
	t.Parallel()
	b, _ := setupHub(t)
	for _, name := range []string{"keccel", "sakari"} {
		var bal struct {
			Provider string  `json:"provider"`
			Amount   float64 `json:"amount"`
		}
		require.Zero(t, b.enqueue(t, &bal, "balance", "--provider", name), name)
		require.Equal(t, name, bal.Provider)
		require.Positive(t, bal.Amount, name)
	}
	var out strings.Builder
	require.Equal(t, 1, runCLI(b, &out, "balance", "--provider", "kandy"))
	require.Contains(t, out.String(), "documents no balance endpoint")
}

func TestOperatorPausesAndResumesAProvider(t *testing.T) {
	t.Parallel()
	b, h := setupHub(t)
	b.startWorker(t)
	var out strings.Builder
	require.Zero(t, runCLI(b, &out, "provider", "pause", "keccel", "--reason", "maintenance"))
	var acc tasks.Accepted
	require.Zero(t, b.enqueue(t, &acc, "send", "-p", "keccel", "-t", "+243812345678", "-m", "held", "--id", "held-1"))
	require.Zero(t, b.enqueue(t, &acc, "send", "-p", "sakari", "-t", "+14155552671", "-m", "not held", "--id", "free-1"))
	b.waitState(t, "free-1", ledger.Submitted)
	time.Sleep(500 * time.Millisecond)
	l := ledger.New(b.redis.Client(), ledger.Options{})
	rec, err := l.Get(context.Background(), "held-1")
	require.NoError(t, err)
	require.Equal(t, ledger.Queued, rec.State, "a paused provider is not called")
	require.Zero(t, rec.Attempts, "a pause charges no attempt")
	require.Zero(t, h.Keccel.Recorder().AcceptedCount())

	out.Reset()
	require.Zero(t, runCLI(b, &out, "provider", "status", "keccel"))
	require.Contains(t, out.String(), "PAUSED:      maintenance")

	require.Zero(t, runCLI(b, &out, "provider", "resume", "keccel"))
	b.waitState(t, "held-1", ledger.Submitted)
	require.Equal(t, 1, h.Keccel.Recorder().AcceptedCount())
}

func runCLI(b *bundle, out *strings.Builder, args ...string) int {
	return cliExecute(args, out, b.environ)
}
