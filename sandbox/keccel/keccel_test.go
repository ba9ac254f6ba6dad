package keccel_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/smsq/smsq/sandbox"
	"github.com/smsq/smsq/sandbox/keccel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup starts the fake and returns it with the base URL a client uses
// (the fake's root plus /sms/v2).
func setup(t *testing.T, o keccel.Options) (*keccel.Server, string) {
	t.Helper()
	fake := keccel.New(o)
	srv := httptest.NewServer(fake)
	t.Cleanup(func() {
		require.NoError(t, fake.Close())
		srv.Close()
	})
	return fake, srv.URL + keccel.BasePath
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// call does one request and returns the status, headers and the decoded
// JSON object (keys exactly as sent).
func call(t *testing.T, method, u, contentType string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var obj map[string]any
	if resp.Header.Get("Content-Type") == "application/json" {
		require.NoError(t, json.Unmarshal(raw, &obj), "body %s", raw)
	}
	return resp.StatusCode, resp.Header, obj
}

func jsonBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func sendJSON(t *testing.T, base string, fields map[string]any) (int, map[string]any) {
	t.Helper()
	code, _, obj := call(t, http.MethodPost, base+"/message.asp", "application/json", jsonBody(t, fields))
	return code, obj
}

func validSend(to string) map[string]any {
	return map[string]any{"token": keccel.DefaultToken, "to": to, "from": "GUEST", "message": "Hello World"}
}

func rejected(desc string) map[string]any {
	return map[string]any{"status": "REJECTED", "messageID": "", "description": desc}
}

func balanceOf(t *testing.T, base string) map[string]any {
	t.Helper()
	q := url.Values{"from": {"GUEST"}, "token": {keccel.DefaultToken}}
	code, _, obj := call(t, http.MethodGet, base+"/balance.asp?"+q.Encode(), "", nil)
	require.Equal(t, http.StatusOK, code)
	return obj
}

func TestSendAnswersSentWithCountingNumericIDs(t *testing.T) {
	t.Parallel()
	fake, base := setup(t, keccel.Options{})

	code, hdr, obj := call(t, http.MethodPost, base+"/message.asp", "application/json", jsonBody(t, validSend("243851234567")))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "application/json", hdr.Get("Content-Type"))
	require.Equal(t, map[string]any{"status": "SENT", "messageID": "1000001", "description": keccel.DescSubmitted}, obj)

	_, obj = sendJSON(t, base, validSend("243851234568"))
	require.Equal(t, "1000002", obj["messageID"])

	acc := fake.Recorder().Accepted()
	require.Len(t, acc, 2)
	require.Equal(t, sandbox.Accepted{ID: "1000001", To: "243851234567", From: "GUEST", Text: "Hello World", At: acc[0].At}, acc[0])
}

func TestSendTakesANumericToAndCRLFPrettyJSON(t *testing.T) {
	t.Parallel()
	fake, base := setup(t, keccel.Options{})
	body := "{\r\n \"token\":\"" + keccel.DefaultToken + "\",\r\n \"to\":243851234567,\r\n \"from\":\"GUEST\",\r\n \"message\":\"Hi\"\r\n}"
	code, _, obj := call(t, http.MethodPost, base+"/message.asp", "application/json; charset=utf-8", []byte(body))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "SENT", obj["status"])
	require.Equal(t, "243851234567", fake.Recorder().Accepted()[0].To)
}

func TestSendAlsoTakesFormAndQueryParameters(t *testing.T) {
	t.Parallel()
	fake, base := setup(t, keccel.Options{})
	fields := url.Values{"token": {keccel.DefaultToken}, "to": {"243851234567"}, "from": {"GUEST"}, "message": {"form"}}

	_, _, obj := call(t, http.MethodPost, base+"/message.asp", "application/x-www-form-urlencoded", []byte(fields.Encode()))
	require.Equal(t, "SENT", obj["status"])

	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	for k, v := range fields {
		require.NoError(t, mw.WriteField(k, v[0]))
	}
	require.NoError(t, mw.Close())
	_, _, obj = call(t, http.MethodPost, base+"/message.asp", mw.FormDataContentType(), mp.Bytes())
	require.Equal(t, "SENT", obj["status"])

	_, _, obj = call(t, http.MethodPost, base+"/message.asp?"+fields.Encode(), "", nil)
	require.Equal(t, "SENT", obj["status"])

	require.Equal(t, 3, fake.Recorder().AcceptedCount())
}

func TestSendRefusesWithKeccelsEnvelope(t *testing.T) {
	t.Parallel()
	without := func(field string) map[string]any {
		m := validSend("243851234567")
		delete(m, field)
		return m
	}
	with := func(field string, v any) map[string]any {
		m := validSend("243851234567")
		m[field] = v
		return m
	}
	for _, tc := range []struct {
		name   string
		fields map[string]any
		desc   string
	}{
		{"wrong token", with("token", "nope"), keccel.DescInvalidToken},
		{"no token", without("token"), "missing token parameter"},
		{"no from", without("from"), "missing from parameter"},
		{"empty from", with("from", " "), "missing from parameter"},
		{"no to", without("to"), "missing to parameter"},
		{"no message", without("message"), "missing message parameter"},
		{"to with a plus", with("to", "+243851234567"), keccel.DescInvalidDestination},
		{"to with letters", with("to", "24385ABC4567"), keccel.DescInvalidDestination},
		{"to too short", with("to", "24385"), keccel.DescInvalidDestination},
		{"unreachable number", with("to", "243810666666"), keccel.DescInvalidDestination},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake, base := setup(t, keccel.Options{})
			code, obj := sendJSON(t, base, tc.fields)
			require.Equal(t, http.StatusOK, code, "Keccel refuses with HTTP 200")
			require.Equal(t, rejected(tc.desc), obj)
			require.Zero(t, fake.Recorder().AcceptedCount())
			require.Equal(t, "1000", balanceOf(t, base)["balance"])
		})
	}
}

func TestSendIsPOSTOnly(t *testing.T) {
	t.Parallel()
	_, base := setup(t, keccel.Options{})
	q := url.Values{"token": {keccel.DefaultToken}, "to": {"243851234567"}, "from": {"GUEST"}, "message": {"legacy v1 style"}}
	code, hdr, obj := call(t, http.MethodGet, base+"/message.asp?"+q.Encode(), "", nil)
	require.Equal(t, http.StatusMethodNotAllowed, code)
	require.Equal(t, http.MethodPost, hdr.Get("Allow"))
	require.Equal(t, "REJECTED", obj["status"])
}

func TestSendRefusesBodiesItCannotRead(t *testing.T) {
	t.Parallel()
	fake, base := setup(t, keccel.Options{})
	valid := jsonBody(t, validSend("243851234567"))

	code, _, obj := call(t, http.MethodPost, base+"/message.asp", "text/plain", valid)
	require.Equal(t, http.StatusUnsupportedMediaType, code)
	require.Equal(t, rejected("Unsupported content type"), obj)

	code, _, _ = call(t, http.MethodPost, base+"/message.asp", "", valid)
	require.Equal(t, http.StatusUnsupportedMediaType, code, "a body without a content type")

	code, _, obj = call(t, http.MethodPost, base+"/message.asp", "application/json", []byte(`{"token":`))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, rejected("Invalid JSON body"), obj)

	require.Zero(t, fake.Recorder().AcceptedCount())
}

func TestInactiveAccountRefusesSendsAndSaysSo(t *testing.T) {
	t.Parallel()
	_, base := setup(t, keccel.Options{Inactive: true})
	_, obj := sendJSON(t, base, validSend("243851234567"))
	require.Equal(t, rejected(keccel.DescInactive), obj)
	require.Equal(t, "inactive", balanceOf(t, base)["status"])
}

func TestBalanceIsAStringCountingDownPerAcceptedSMS(t *testing.T) {
	t.Parallel()
	_, base := setup(t, keccel.Options{Balance: 2})
	require.Equal(t, map[string]any{"balance": "2", "expiration": keccel.Expiration, "status": "Active"}, balanceOf(t, base))

	for i := 0; i < 2; i++ {
		_, obj := sendJSON(t, base, validSend(fmt.Sprintf("24385123456%d", i)))
		require.Equal(t, "SENT", obj["status"])
	}
	_, obj := sendJSON(t, base, validSend("243851234569"))
	require.Equal(t, rejected(keccel.DescNoBalance), obj)
	require.Equal(t, "0", balanceOf(t, base)["balance"])
}

func TestBalanceAndDeliveryReadQueryJSONBodyOrForm(t *testing.T) {
	t.Parallel()
	_, base := setup(t, keccel.Options{})
	_, sent := sendJSON(t, base, validSend("243851234567"))
	id := sent["messageID"].(string)

	auth := map[string]any{"from": "GUEST", "token": keccel.DefaultToken}
	// pykeccelsms: GET with a JSON body.
	code, _, obj := call(t, http.MethodGet, base+"/balance.asp", "application/json", jsonBody(t, auth))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "999", obj["balance"])

	form := url.Values{"from": {"GUEST"}, "token": {keccel.DefaultToken}, "messageID": {id}}
	_, _, obj = call(t, http.MethodGet, base+"/delivery.asp", "application/x-www-form-urlencoded", []byte(form.Encode()))
	require.Equal(t, map[string]any{"messageid": id, "status": "DELIVERED"}, obj)

	withID := map[string]any{"from": "GUEST", "token": keccel.DefaultToken, "messageid": id}
	_, _, obj = call(t, http.MethodGet, base+"/delivery.asp", "application/json", jsonBody(t, withID))
	require.Equal(t, "DELIVERED", obj["status"])
}

func TestBalanceAndDeliveryRefusals(t *testing.T) {
	t.Parallel()
	_, base := setup(t, keccel.Options{})
	for _, ep := range []string{"/balance.asp", "/delivery.asp"} {
		t.Run(ep, func(t *testing.T) {
			q := url.Values{"from": {"GUEST"}, "token": {keccel.DefaultToken}, "messageid": {"1000001"}}

			code, hdr, obj := call(t, http.MethodPost, base+ep+"?"+q.Encode(), "", nil)
			require.Equal(t, http.StatusMethodNotAllowed, code)
			require.Equal(t, http.MethodGet, hdr.Get("Allow"))
			require.Equal(t, "REJECTED", obj["status"])

			bad := url.Values{"from": {"GUEST"}, "token": {"nope"}, "messageid": {"1000001"}}
			_, _, obj = call(t, http.MethodGet, base+ep+"?"+bad.Encode(), "", nil)
			require.Equal(t, rejected(keccel.DescInvalidToken), obj)

			noFrom := url.Values{"token": {keccel.DefaultToken}, "messageid": {"1000001"}}
			_, _, obj = call(t, http.MethodGet, base+ep+"?"+noFrom.Encode(), "", nil)
			require.Equal(t, rejected("missing from parameter"), obj, "Keccel wants from on every endpoint")

			noToken := url.Values{"from": {"GUEST"}, "messageid": {"1000001"}}
			_, _, obj = call(t, http.MethodGet, base+ep+"?"+noToken.Encode(), "", nil)
			require.Equal(t, rejected("missing token parameter"), obj)
		})
	}
	q := url.Values{"from": {"GUEST"}, "token": {keccel.DefaultToken}}
	_, _, obj := call(t, http.MethodGet, base+"/delivery.asp?"+q.Encode(), "", nil)
	require.Equal(t, rejected("missing messageid parameter"), obj)
}

func TestDeliveryPullGoesPendingThenFinal(t *testing.T) {
	t.Parallel()
	clk := newClock()
	_, base := setup(t, keccel.Options{Now: clk.Now, DeliverAfter: 10 * time.Minute, FailNumbers: []string{"+243 85 000 0002"}})
	_, ok := sendJSON(t, base, validSend("243850000001"))
	_, bad := sendJSON(t, base, validSend("243850000002"))

	status := func(id string) map[string]any {
		q := url.Values{"from": {"GUEST"}, "token": {keccel.DefaultToken}, "messageid": {id}}
		code, _, obj := call(t, http.MethodGet, base+"/delivery.asp?"+q.Encode(), "", nil)
		require.Equal(t, http.StatusOK, code)
		return obj
	}
	require.Equal(t, map[string]any{"messageid": ok["messageID"], "status": "PENDING"}, status(ok["messageID"].(string)))
	require.Equal(t, "PENDING", status(bad["messageID"].(string))["status"])

	clk.Advance(10 * time.Minute)
	require.Equal(t, "DELIVERED", status(ok["messageID"].(string))["status"])
	require.Equal(t, "FAILED", status(bad["messageID"].(string))["status"])
	require.Equal(t, map[string]any{"messageid": "424242", "status": "ERROR"}, status("424242"))
}

func TestDeliveryForgetsMessagesBeyondTrack(t *testing.T) {
	t.Parallel()
	_, base := setup(t, keccel.Options{Track: 2})
	var ids []string
	for i := 0; i < 3; i++ {
		_, obj := sendJSON(t, base, validSend(fmt.Sprintf("24385000000%d", i)))
		ids = append(ids, obj["messageID"].(string))
	}
	status := func(id string) any {
		q := url.Values{"from": {"GUEST"}, "token": {keccel.DefaultToken}, "messageid": {id}}
		_, _, obj := call(t, http.MethodGet, base+"/delivery.asp?"+q.Encode(), "", nil)
		return obj["status"]
	}
	require.Equal(t, "ERROR", status(ids[0]), "the oldest is forgotten")
	require.Equal(t, "DELIVERED", status(ids[1]))
	require.Equal(t, "DELIVERED", status(ids[2]))
}

// receiver is a callback endpoint that records Keccel's pushes.
type receiver struct {
	mu       sync.Mutex
	attempts map[string]int
	failFor  int // answer 500 to this many attempts per message first
	got      chan url.Values
}

func newReceiver(t *testing.T, failFor int) (*receiver, string) {
	rc := &receiver{attempts: map[string]int{}, failFor: failFor, got: make(chan url.Values, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		q := r.URL.Query()
		rc.mu.Lock()
		rc.attempts[q.Get("messageID")]++
		n := rc.attempts[q.Get("messageID")]
		rc.mu.Unlock()
		if n <= rc.failFor {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		rc.got <- q
	}))
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

// next waits for one push; the deadline only guards against a hang.
func (rc *receiver) next(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-rc.got:
		return q
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery report was pushed")
		return nil
	}
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, v := range rc.attempts {
		n += v
	}
	return n
}

func TestPushReportsGoToTheCallbackURL(t *testing.T) {
	t.Parallel()
	rc, cb := newReceiver(t, 0)
	_, base := setup(t, keccel.Options{CallbackURL: cb + "/dlr?client=smsq", FailNumbers: []string{"243850000002"}})
	_, ok := sendJSON(t, base, validSend("243850000001"))
	_, bad := sendJSON(t, base, validSend("243850000002"))

	got := map[string]url.Values{}
	for i := 0; i < 2; i++ {
		q := rc.next(t)
		got[q.Get("messageID")] = q
	}
	require.Equal(t, url.Values{"client": {"smsq"}, "messageID": {ok["messageID"].(string)}, "status": {"DELIVERED"}}, got[ok["messageID"].(string)])
	require.Equal(t, "FAILED", got[bad["messageID"].(string)].Get("status"))
}

func TestPushIsRetriedWhenTheCallbackFails(t *testing.T) {
	t.Parallel()
	rc, cb := newReceiver(t, 2)
	_, base := setup(t, keccel.Options{CallbackURL: cb})
	_, sent := sendJSON(t, base, validSend("243850000001"))
	q := rc.next(t)
	require.Equal(t, sent["messageID"], q.Get("messageID"))
	require.Equal(t, 3, rc.count(), "two refused attempts, then the one that got through")
}

func TestCallbackURLCanBeSwitchedAtRunTime(t *testing.T) {
	t.Parallel()
	rc, cb := newReceiver(t, 0)
	fake, base := setup(t, keccel.Options{})
	sendJSON(t, base, validSend("243850000001")) // pushes off: never reported

	fake.SetCallbackURL(cb)
	_, second := sendJSON(t, base, validSend("243850000002"))
	require.Equal(t, second["messageID"], rc.next(t).Get("messageID"))

	require.NoError(t, fake.Close())
	require.Equal(t, 1, rc.count(), "the message sent while pushes were off got none")
}

func TestCloseDropsPushesNotYetDue(t *testing.T) {
	t.Parallel()
	rc, cb := newReceiver(t, 0)
	fake, base := setup(t, keccel.Options{CallbackURL: cb, DeliverAfter: time.Hour})
	_, obj := sendJSON(t, base, validSend("243850000001"))
	require.Equal(t, "SENT", obj["status"])
	require.NoError(t, fake.Close())
	require.NoError(t, fake.Close(), "Close is idempotent")
	require.Zero(t, rc.count())
	// goleak in TestMain checks that the push goroutines are gone.
}

func TestFaultsApplyToEveryEndpoint(t *testing.T) {
	t.Parallel()
	fake, base := setup(t, keccel.Options{})
	fake.Faults().Set(sandbox.Faults{ServerErrorRate: 1})
	for _, ep := range []string{"/message.asp", "/delivery.asp", "/balance.asp"} {
		code, _, _ := call(t, http.MethodGet, base+ep, "", nil)
		require.Equal(t, http.StatusServiceUnavailable, code, ep)
	}
	require.Equal(t, 3, fake.Faults().Injected()["5xx"])
	require.Equal(t, 3, fake.Recorder().Calls())
}

func TestOnlyTheV2PathsExist(t *testing.T) {
	t.Parallel()
	_, base := setup(t, keccel.Options{})
	root := strings.TrimSuffix(base, keccel.BasePath)
	for _, p := range []string{"/message.asp", "/sms/v1/message.asp", "/sms/v2/status.asp"} {
		code, _, _ := call(t, http.MethodPost, root+p, "application/json", jsonBody(t, validSend("243851234567")))
		require.Equal(t, http.StatusNotFound, code, p)
	}
}

func TestConcurrentSendsGetDistinctIDsAndCredit(t *testing.T) {
	t.Parallel()
	fake, base := setup(t, keccel.Options{})
	const n = 50
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body, _ := json.Marshal(validSend(fmt.Sprintf("2438500%05d", i)))
			resp, err := http.Post(base+"/message.asp", "application/json", bytes.NewReader(body))
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var a struct{ MessageID string }
			_ = json.NewDecoder(resp.Body).Decode(&a)
			ids[i] = a.MessageID
		}(i)
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		require.NotEmpty(t, id)
		require.False(t, seen[id], "duplicate id %s", id)
		seen[id] = true
	}
	require.Equal(t, n, fake.Recorder().AcceptedCount())
	require.Equal(t, fmt.Sprint(keccel.DefaultBalance-n), balanceOf(t, base)["balance"])
}
