package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/sms"
)

func TestProviderEnvIsAConfigSmsqAccepts(t *testing.T) {
	t.Parallel()
	root := "http://127.0.0.1:9"
	env := append(BaseEnv(7*time.Second), "SMSQ_REDIS__URL=redis://127.0.0.1:1/0")
	env = append(env, ProviderEnv(root, "keccel", 25)...)
	env = append(env, ProviderEnv(root, "sakari", 0)...)
	env = append(env, ProviderEnv(root, "conectaline", 1000)...)
	cfg, err := config.Load("", env)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"conectaline", "keccel", "sakari"}, cfg.Providers.Names())
	th := cfg.Providers.Throttles()
	require.Equal(t, "25/s", th["keccel"].Rate)
	require.Empty(t, th["sakari"].Rate, "rate 0 leaves the default")
	require.Equal(t, "1000/s", th["conectaline"].Rate)
	require.Equal(t, "message", th["conectaline"].CostBy)
	require.Equal(t, 7*time.Second, cfg.Worker.ShutdownTimeout)
	require.Equal(t, "-", cfg.Worker.HTTPAddr)

	require.PanicsWithValue(t, `harness: no sandbox settings for provider "kandy"`, func() { ProviderEnv(root, "kandy", 1) })
}

func TestConnectCreatesACampaignAsTheCommandDoes(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	env := append(BaseEnv(time.Second), "SMSQ_REDIS__URL="+srv.URL())
	env = append(env, ProviderEnv("http://127.0.0.1:9", "conectaline", 100)...)
	c, err := Connect(env)
	require.NoError(t, err)
	defer c.Close()

	var csv strings.Builder
	csv.WriteString("phone,name\n")
	for i := range 5 {
		fmt.Fprintf(&csv, "%s,N%d\n", sms.ExampleNumber("ES", i), i)
	}
	ctx := context.Background()
	rep, err := c.CreateCampaign(ctx, campaign.Definition{Name: "t", Provider: "conectaline", Message: "Hola {{name}}"}, csv.String())
	require.NoError(t, err)
	require.Equal(t, 5, rep.Sendable)
	got, err := c.Store.Get(ctx, rep.ID)
	require.NoError(t, err)
	require.Equal(t, "UTC", got.Pacing.TimeZone, "unpaced, starting now in UTC")
	require.Equal(t, 5, got.Total)
	require.Zero(t, c.Archived(), "nothing given up")
}
