package hub_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/smsq/smsq/sandbox/hub"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHubServesEachFakeUnderItsPathAndSwitchesFaults(t *testing.T) {
	h := hub.New(hub.Options{KeepMessages: true})
	srv := httptest.NewServer(h)
	defer func() { srv.Close(); h.Close() }()

	send := func() *http.Response {
		body := `{"token":"` + sbkeccel.DefaultToken + `","to":"243812345678","from":"SMSQ","message":"hi"}`
		resp, err := http.Post(hub.BaseURL(srv.URL, "keccel")+"/message.asp", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		return resp
	}
	resp := send()
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(b), `"SENT"`)

	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_control/keccel/faults", bytes.NewReader([]byte(`{"too_many_rate":1,"retry_after":"5"}`)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	resp = send()
	resp.Body.Close()
	require.Equal(t, 429, resp.StatusCode)
	require.Equal(t, "5", resp.Header.Get("Retry-After"))

	resp, err = http.Get(srv.URL + "/_control/keccel")
	require.NoError(t, err)
	var st hub.Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	resp.Body.Close()
	require.Equal(t, 1, st.Accepted)
	require.Equal(t, 1, st.Injected["429"])

	resp, err = http.Get(srv.URL + "/_control/nope")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode)

	for _, name := range h.Names() {
		require.NotEmpty(t, hub.BaseURL(srv.URL, name), name)
	}
}
