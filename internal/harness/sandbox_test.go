package harness

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/sandbox/hub"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
)

func keccelSend(t *testing.T, root string) (*http.Response, string) {
	t.Helper()
	body := `{"token":"` + sbkeccel.DefaultToken + `","to":"243812345678","from":"SMSQ","message":"hi"}`
	resp, err := http.Post(hub.BaseURL(root, "keccel")+"/message.asp", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestSandboxServesTheHubOnLoopback(t *testing.T) {
	t.Parallel()
	s := NewSandbox(hub.Options{})
	require.NoError(t, s.Serve(nil))
	defer s.Close()
	require.True(t, strings.HasPrefix(s.Root, "http://127.0.0.1:"), s.Root)
	resp, body := keccelSend(t, s.Root)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `"SENT"`)
	require.Equal(t, map[string]int{"243812345678": 1}, digitsKeys(s.Hub.Fake("keccel").Recorder().PerDestination()))
}

func digitsKeys(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[Digits(k)] += v
	}
	return out
}

func TestSandboxBehindAHandlerThatHoldsAnswers(t *testing.T) {
	t.Parallel()
	s := NewSandbox(hub.Options{})
	held := make(chan struct{})
	release := make(chan struct{})
	require.NoError(t, s.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a Answer
		s.Hub.ServeHTTP(&a, r)
		close(held)
		<-release
		a.Release(w)
	})))
	defer s.Close()
	go func() { <-held; close(release) }()
	resp, body := keccelSend(t, s.Root)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `"SENT"`)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
}

func TestAnswerKeepsTheFirstStatusAndReleasesAll(t *testing.T) {
	t.Parallel()
	var a Answer
	require.Equal(t, http.StatusOK, a.Status(), "nothing written: 200")
	a.Header().Set("Retry-After", "1")
	a.WriteHeader(http.StatusTooManyRequests)
	a.WriteHeader(http.StatusOK)
	_, err := a.Write([]byte("slow "))
	require.NoError(t, err)
	_, _ = a.Write([]byte("down"))
	require.Equal(t, http.StatusTooManyRequests, a.Status())
	require.Equal(t, "slow down", string(a.Body()))

	rec := httptest.NewRecorder()
	a.Release(rec)
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.Equal(t, "1", rec.Header().Get("Retry-After"))
	require.Equal(t, "slow down", rec.Body.String())
}

func TestSandboxCloseCutsHeldRequests(t *testing.T) {
	t.Parallel()
	s := NewSandbox(hub.Options{})
	started := make(chan struct{})
	require.NoError(t, s.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})))
	errc := make(chan error, 1)
	go func() {
		c := &http.Client{Timeout: time.Minute}
		resp, err := c.Get(s.Root + "/")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	s.Close()
	require.Error(t, <-errc, "the held request is cut, not answered")
}

func TestDigits(t *testing.T) {
	t.Parallel()
	require.Equal(t, "34600123456", Digits("+34 600-123-456"))
	require.Empty(t, Digits("none"))
}
