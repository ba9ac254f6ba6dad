package mask_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/mask"
)

// lockedBuffer collects lines from concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWriterMasksZerologLines(t *testing.T) {
	t.Parallel()
	var secrets mask.Secrets
	secrets.Add("sk_live_9f8e7d6c", `pa"ss\word`)
	var out lockedBuffer
	log := zerolog.New(mask.NewWriter(&out, &secrets)).With().Timestamp().Logger()

	at := time.Date(2026, 11, 22, 20, 13, 17, 123456789, time.UTC)
	const id = "12345678-1234-4234-8234-123456789012" // a UUID made of digits
	log.Info().
		Str("to", "+243851234567").
		Str("message_id", id).
		Time("queued_at", at).
		Dur("elapsed", 12345678*time.Nanosecond).
		Err(errors.New(`keccel token: sk_live_9f8e7d6c refused (password pa"ss\word)`)).
		Msg("sending to +243 85 123 4567")

	line := out.String()
	for _, leak := range []string{"851234567", "85 123 4567", "sk_live_9f8e7d6c", `pa\"ss\\word`, "pa\"ss"} {
		require.NotContains(t, line, leak)
	}
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &ev), "still valid JSON: %s", line)
	require.Equal(t, "+243*******67", ev["to"])
	require.Equal(t, "sending to +243 ** *** **67", ev["message"])
	require.Equal(t, "keccel token: *** refused (password ***)", ev["error"])
	require.Equal(t, id, ev["message_id"])
	require.Equal(t, at.Format(time.RFC3339), ev["queued_at"])
	require.InDelta(t, 12.345678, ev["elapsed"], 1e-9)
	_, err := time.Parse(time.RFC3339, ev["time"].(string))
	require.NoError(t, err, "timestamp untouched")
}

func TestWriterConcurrentLines(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	log := zerolog.New(mask.NewWriter(&out, nil))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				log.Info().Int("g", g).Str("to", "+2438"+strconv.Itoa(10000000+g*1000+i)).Msg("sent")
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 400)
	for _, l := range lines {
		require.Regexp(t, `^\{"level":"info","g":\d,"to":"\+243\*{7}\d\d","message":"sent"\}$`, l)
	}
}

func TestWriterPassesCleanLinesAndErrors(t *testing.T) {
	t.Parallel()
	var got []byte
	w := mask.NewWriter(writerFunc(func(p []byte) (int, error) { got = p; return len(p), nil }), nil)
	clean := []byte(`{"level":"info","message":"ok"}` + "\n")
	n, err := w.Write(clean)
	require.NoError(t, err)
	require.Equal(t, len(clean), n)
	require.Same(t, &clean[0], &got[0], "nothing to hide: the caller's bytes go through as is")

	boom := errors.New("disk full")
	w = mask.NewWriter(writerFunc(func([]byte) (int, error) { return 0, boom }), nil)
	n, err = w.Write([]byte("+243851234567\n"))
	require.ErrorIs(t, err, boom)
	require.Zero(t, n)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A typical worker log line, about 200 bytes.
const benchLine = `{"level":"info","provider":"keccel","queue":"bulk","task_id":"3f2b8c1e-9a4d-4e7b-8c2a-5d6e7f8a9b0c",` +
	`"to":"+243851234567","segments":2,"elapsed":12.345,"time":"2026-11-22T20:13:17Z","message":"message submitted"}` + "\n"

func BenchmarkWriter(b *testing.B) {
	var secrets mask.Secrets
	secrets.Add("sk_live_9f8e7d6c", "kandy-api-key-0001", "conectaline-token-xyz")
	clean := strings.Replace(benchLine, `"to":"+243851234567",`, `"to":"+243*******67",`, 1)
	for _, bc := range []struct {
		name    string
		line    string
		secrets *mask.Secrets
	}{
		{"phone", benchLine, nil},
		{"phone+3secrets", benchLine, &secrets},
		{"clean+3secrets", clean, &secrets},
		{"secret+phone", strings.Replace(benchLine, "message submitted", "token sk_live_9f8e7d6c refused", 1), &secrets},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := mask.NewWriter(io.Discard, bc.secrets)
			p := []byte(bc.line)
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.Write(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkText(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		mask.Text(benchLine)
	}
}
