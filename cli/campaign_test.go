package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/cli"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/sms"
)

func run(t *testing.T, environ []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Execute(context.Background(), args, &out, &errb, environ)
	return out.String(), errb.String(), code
}

func TestCampaignPlanJSONShape(t *testing.T) {
	t.Parallel()
	out, stderr, code := run(t, nil, "campaign", "plan", "--json", "--recipients", "2500",
		"--smsxblock", "1000", "--minutesxblock", "1", "--start-date", "2026-05-04 09:00", "--tz", "Europe/Madrid")
	require.Equal(t, 0, code, stderr)

	// Exactly one JSON value: an array of objects with exactly these keys.
	var raw []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &raw))
	require.Len(t, raw, 3)
	wantStarts := []string{"2026-05-04T09:00:00+02:00", "2026-05-04T09:01:00+02:00", "2026-05-04T09:02:00+02:00"}
	wantCounts := []int{1000, 1000, 500}
	for i, obj := range raw {
		require.Len(t, obj, 3, "block %d: %v", i, obj)
		var block, recipients int
		var start string
		require.NoError(t, json.Unmarshal(obj["block"], &block))
		require.NoError(t, json.Unmarshal(obj["start"], &start))
		require.NoError(t, json.Unmarshal(obj["recipients"], &recipients))
		require.Equal(t, i, block)
		require.Equal(t, wantStarts[i], start)
		_, err := time.Parse(time.RFC3339, start)
		require.NoError(t, err)
		require.Equal(t, wantCounts[i], recipients)
	}

	// UTC keeps a numeric offset; an unpaced plan is one block.
	out, stderr, code = run(t, nil, "campaign", "plan", "--json", "--recipients", "10", "--start-date", "2026-05-04 09:00")
	require.Equal(t, 0, code, stderr)
	require.JSONEq(t, `[{"block":0,"start":"2026-05-04T09:00:00+00:00","recipients":10}]`, out)
}

func TestCampaignPlanErrorsNameTheField(t *testing.T) {
	t.Parallel()
	out, _, code := run(t, nil, "campaign", "plan", "--json", "--recipients", "10", "--smsxblock", "100",
		"--start-date", "2026-05-04 09:00")
	require.Equal(t, 1, code)
	require.Contains(t, out, "minutesxblock")
	_, stderr, code := run(t, nil, "campaign", "plan", "--recipients", "10", "--days", "1,2", "--start-date", "2026-05-04 09:00")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "pacing.days")
}

func TestCampaignLifecycleThroughTheCLI(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	environ := []string{
		"SMSQ_REDIS__URL=" + srv.URL(),
		"SMSQ_PROVIDERS__CONECTALINE__ENABLED=true",
		"SMSQ_PROVIDERS__CONECTALINE__BASE_URL=http://127.0.0.1:9/v1",
		"SMSQ_PROVIDERS__CONECTALINE__API_TOKEN=test-token",
		"SMSQ_PROVIDERS__CONECTALINE__CONFIGURATION_NAME=test",
	}
	var csv strings.Builder
	csv.WriteString("phone,name\n")
	for i := range 25 {
		csv.WriteString(sms.ExampleNumber("CD", i) + ",P\n")
	}
	csv.WriteString("oops,Q\n")
	file := filepath.Join(t.TempDir(), "r.csv")
	require.NoError(t, os.WriteFile(file, []byte(csv.String()), 0o600))

	out, stderr, code := run(t, environ, "campaign", "create", "--id", "cli1", "-p", "conectaline", "--file", file,
		"-m", "Hi {{name}}", "--start-date", "2031-01-06 09:00", "--tz", "Europe/Madrid", "--smsxblock", "10", "--minutesxblock", "5")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "line 27: phone: ")
	require.Contains(t, out, "26 rows: 25 recipients (25 to send, 0 suppressed), 0 duplicates, 1 bad; 3 blocks")
	require.Contains(t, out, "campaign cli1 scheduled")

	out, stderr, code = run(t, environ, "--json", "campaign", "status", "cli1")
	require.Equal(t, 0, code, stderr)
	var st struct {
		ID      string           `json:"id"`
		State   string           `json:"state"`
		Counts  map[string]int64 `json:"counts"`
		Outlook struct {
			NextBlock   int       `json:"next_block"`
			NextBlockAt time.Time `json:"next_block_at"`
			ETA         time.Time `json:"eta"`
		} `json:"outlook"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, "cli1", st.ID)
	require.Equal(t, "scheduled", st.State)
	require.Equal(t, int64(25), st.Counts["pending"])
	require.Equal(t, 0, st.Outlook.NextBlock)
	require.Equal(t, "2031-01-06T09:00:00+01:00", st.Outlook.NextBlockAt.Format(time.RFC3339))
	require.Equal(t, "2031-01-06T09:10:00+01:00", st.Outlook.ETA.Format(time.RFC3339))

	out, _, code = run(t, environ, "campaign", "status", "cli1")
	require.Equal(t, 0, code)
	require.Contains(t, out, "next block:  0 at 2031-01-06T09:00:00+01:00")

	for _, step := range []struct{ cmd, state string }{{"pause", "paused"}, {"resume", "scheduled"}, {"cancel", "cancelled"}} {
		out, stderr, code = run(t, environ, "campaign", step.cmd, "cli1")
		require.Equal(t, 0, code, stderr)
		require.Equal(t, "cli1\t"+step.state+"\n", out)
	}
	_, stderr, code = run(t, environ, "campaign", "resume", "cli1")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "cancelled")

	out, _, code = run(t, environ, "campaign", "list")
	require.Equal(t, 0, code)
	require.Contains(t, out, "cli1")
	require.Contains(t, out, "0/25")
}
