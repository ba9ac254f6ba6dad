package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/api"
	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/pacing"
	"github.com/smsq/smsq/tasks"
)

// as sends with another key than keyA.
func as(key string) []string { return []string{"Authorization", "Bearer " + key} }

func TestKeysSeeOnlyTheirOwnMessages(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	msg := `{"id":"otp-9","provider":"keccel","to":"+243812345678","text":"Your code is 4321"}`
	a := b.postJSON(t, "/v1/messages", msg)
	require.Equal(t, http.StatusAccepted, a.code, "%s", a.body)
	var acc tasks.Accepted
	a.decode(t, &acc)
	require.Equal(t, "shop", acc.Message.Producer, "the key's name is recorded")
	rec, err := b.led.Get(context.Background(), "otp-9")
	require.NoError(t, err)
	require.Equal(t, "shop", rec.Producer)

	// Another key cannot tell it from an id nobody used.
	other := b.do(t, http.MethodGet, "/v1/messages/otp-9", "", nil, as(keyB)...)
	nobody := b.do(t, http.MethodGet, "/v1/messages/otp-0", "", nil, as(keyB)...)
	require.Equal(t, http.StatusNotFound, other.code)
	require.Equal(t, strings.Replace(string(nobody.body), "otp-0", "otp-9", 1), string(other.body))

	// Nor take its id: 409, and nothing of the message shows.
	clash := b.postJSON(t, "/v1/messages", msg, as(keyB)...)
	require.Equal(t, http.StatusConflict, clash.code)
	e := clash.problem(t)
	require.Equal(t, "id", e.Fields[0].Field)
	for _, leak := range []string{"812345678", "4321", "shop", "queued"} {
		require.NotContains(t, string(clash.body), leak)
	}
	hdr := b.postJSON(t, "/v1/messages", `{"provider":"keccel","to":"+243812345679","text":"x"}`, append(as(keyB), "Idempotency-Key", "otp-9")...)
	require.Equal(t, http.StatusConflict, hdr.code)
	require.Equal(t, 1, b.queuedSends(t), "nothing more was queued")

	// Its owner and admin keys read it.
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/messages/otp-9", "", nil).code)
	g := b.do(t, http.MethodGet, "/v1/messages/otp-9", "", nil, as(keyAdmin)...)
	require.Equal(t, http.StatusOK, g.code)
	var got api.MessageResponse
	g.decode(t, &got)
	require.Equal(t, "shop", got.Message.Producer)
	dup := b.postJSON(t, "/v1/messages", msg, as(keyAdmin)...)
	require.Equal(t, http.StatusAccepted, dup.code, "an admin's repeat is a plain duplicate")

	// The owner cannot be given in the body.
	forged := b.postJSON(t, "/v1/messages", `{"provider":"keccel","to":"+243812345678","text":"x","producer":"crm"}`)
	require.Equal(t, http.StatusBadRequest, forged.code)
	require.Equal(t, "producer", forged.problem(t).Fields[0].Field)
}

func TestMessagesWithoutAKeyAreForAdminsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	// As the CLI or a Go backend sends: no producer.
	_, err := b.client.Send(context.Background(), tasks.SendRequest{ID: "cli-1", Provider: "keccel", To: "+243812345678", Text: "hi"})
	require.NoError(t, err)

	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/v1/messages/cli-1", "", nil).code)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/v1/messages/cli-1", "", nil, as(keyB)...).code)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/messages/cli-1", "", nil, as(keyAdmin)...).code)
	clash := b.postJSON(t, "/v1/messages", `{"id":"cli-1","provider":"keccel","to":"+243812345678","text":"hi"}`)
	require.Equal(t, http.StatusConflict, clash.code)
	rec, err := b.led.Get(context.Background(), "cli-1")
	require.NoError(t, err)
	require.Empty(t, rec.Producer, "a refused repeat does not claim it")
}

func TestBatchWithATakenIDQueuesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	require.Equal(t, http.StatusAccepted, b.postJSON(t, "/v1/messages", `{"id":"shop-1","provider":"keccel","to":"+243812345678","text":"x"}`).code)
	a := b.postJSON(t, "/v1/messages", `{"messages":[
		{"id":"crm-1","provider":"keccel","to":"+243812345671","text":"one"},
		{"id":"shop-1","provider":"keccel","to":"+243812345672","text":"two"},
		{"provider":"keccel","to":"+243812345673","text":"three"}]}`, as(keyB)...)
	require.Equal(t, http.StatusConflict, a.code, "%s", a.body)
	e := a.problem(t)
	require.Len(t, e.Fields, 1)
	require.Equal(t, 1, *e.Fields[0].Index)
	require.Equal(t, "messages[1].id", e.Fields[0].Field)
	require.NotContains(t, string(a.body), "812345678")
	require.Equal(t, 1, b.queuedSends(t), "nothing of the batch was queued")

	// The owner's own batch with the id is a duplicate, as before.
	own := b.postJSON(t, "/v1/messages", `{"messages":[{"id":"shop-1","provider":"keccel","to":"+243812345678","text":"x"}]}`)
	require.Equal(t, http.StatusAccepted, own.code, "%s", own.body)
	var res api.BatchResponse
	own.decode(t, &res)
	require.True(t, res.Messages[0].Duplicate)
}

func TestKeysSeeOnlyTheirOwnCampaigns(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	require.Equal(t, http.StatusCreated, b.postJSON(t, "/v1/campaigns", campaignJSON("shop-promo")).code)

	for _, path := range []string{"/v1/campaigns/shop-promo", "/v1/campaigns/shop-promo/pause", "/v1/campaigns/shop-promo/cancel"} {
		method := http.MethodPost
		if !strings.Contains(path, "promo/") {
			method = http.MethodGet
		}
		a := b.do(t, method, path, "", nil, as(keyB)...)
		require.Equal(t, http.StatusNotFound, a.code, path)
		none := b.do(t, method, strings.Replace(path, "shop-promo", "no-promo", 1), "", nil, as(keyB)...)
		require.Equal(t, strings.Replace(string(none.body), "no-promo", "shop-promo", 1), string(a.body), "same answer as for no campaign")
	}
	clash := b.postJSON(t, "/v1/campaigns", campaignJSON("shop-promo"), as(keyB)...)
	require.Equal(t, http.StatusConflict, clash.code, "%s", clash.body)
	require.Equal(t, "id", clash.problem(t).Fields[0].Field)
	require.NotContains(t, string(clash.body), "May promo")

	g := b.do(t, http.MethodGet, "/v1/campaigns/shop-promo", "", nil)
	require.Equal(t, http.StatusOK, g.code)
	var res api.CampaignResponse
	g.decode(t, &res)
	require.Equal(t, campaign.Scheduled, res.Campaign.State, "the other key's tries changed nothing")
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/v1/campaigns/shop-promo/pause", "", nil, as(keyAdmin)...).code)

	// A generated id is owned too.
	gen := b.postJSON(t, "/v1/campaigns", strings.Replace(campaignJSON(""), `"id":"",`, "", 1), as(keyB)...)
	require.Equal(t, http.StatusCreated, gen.code, "%s", gen.body)
	gen.decode(t, &res)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/campaigns/"+res.Campaign.ID, "", nil, as(keyB)...).code)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/v1/campaigns/"+res.Campaign.ID, "", nil).code)

	// A failed create lets the id go.
	bad := b.postJSON(t, "/v1/campaigns", `{"id":"later","provider":"keccel","message":"Hi {{name}}","recipients":[{"phone":"+243812345671"}]}`, as(keyB)...)
	require.Equal(t, http.StatusUnprocessableEntity, bad.code, "%s", bad.body)
	require.Equal(t, "message", bad.problem(t).Fields[0].Field, "refused by the store, after the id was claimed")
	later := b.postJSON(t, "/v1/campaigns", campaignJSON("later"))
	require.Equal(t, http.StatusCreated, later.code, "%s", later.body)
}

func TestCampaignsWithoutAKeyAreForAdminsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	// As enqueue campaign create makes one: straight into the store.
	_, err := b.store.Create(context.Background(), campaign.Definition{ID: "cli-promo", Provider: "keccel", Message: "Hi",
		Pacing: campaignPacing()}, strings.NewReader("phone\n+243812345671\n"), campaign.CreateOptions{Providers: []string{"keccel"}})
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/v1/campaigns/cli-promo", "", nil).code)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/campaigns/cli-promo", "", nil, as(keyAdmin)...).code)
	// Creating it again fails as it exists, and does not make it the key's.
	require.Equal(t, http.StatusConflict, b.postJSON(t, "/v1/campaigns", campaignJSON("cli-promo")).code)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/v1/campaigns/cli-promo", "", nil).code)
}

func TestPrivateCallbackURLsAreRefusedAtAcceptance(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, u := range []string{"http://127.0.0.1:6379/", "http://169.254.169.254/latest/meta-data", "http://localhost/x", "http://[::1]/x", "http://10.0.0.8/hook"} {
		a := b.postJSON(t, "/v1/messages", `{"provider":"keccel","to":"+243812345678","text":"x","callback_url":"`+u+`"}`)
		require.Equal(t, http.StatusUnprocessableEntity, a.code, u)
		e := a.problem(t)
		require.Equal(t, "callback_url", e.Fields[0].Field, u)
		require.Contains(t, e.Fields[0].Reason, "api.allow_private_callbacks", u)

		batch := b.postJSON(t, "/v1/messages", `{"messages":[{"provider":"keccel","to":"+243812345678","text":"x"},
			{"provider":"keccel","to":"+243812345678","text":"x","callback_url":"`+u+`"}]}`)
		require.Equal(t, http.StatusUnprocessableEntity, batch.code, u)
		require.Equal(t, "messages[1].callback_url", batch.problem(t).Fields[0].Field, u)
	}
	require.Zero(t, b.queuedSends(t))
}

func TestAKeysPrivateCallbackIsRefusedToo(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := tasks.NewClient(srv.AsynqOpt(), srv.Client(), tasks.Rules{Providers: []string{"keccel"}}, ledger.Options{})
	t.Cleanup(func() { _ = client.Close() })
	h := api.New(api.Options{Producer: client, Log: zerolog.Nop(),
		Keys: []api.Key{{Name: "shop", Key: keyA, CallbackURL: "http://192.168.0.10/hooks"}}})
	b := serve(t, h)
	a := b.postJSON(t, "/v1/messages", `{"provider":"keccel","to":"+243812345678","text":"x"}`)
	require.Equal(t, http.StatusUnprocessableEntity, a.code)
	require.Equal(t, "callback_url", a.problem(t).Fields[0].Field)
}

func TestAllowPrivateCallbacksAcceptsThem(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := tasks.NewClient(srv.AsynqOpt(), srv.Client(), tasks.Rules{Providers: []string{"keccel"}, AllowPrivateCallbacks: true}, ledger.Options{})
	t.Cleanup(func() { _ = client.Close() })
	b := serve(t, api.New(api.Options{Producer: client, Log: zerolog.Nop(), Keys: []api.Key{{Name: "shop", Key: keyA}}}))
	a := b.postJSON(t, "/v1/messages", `{"provider":"keccel","to":"+243812345678","text":"x","callback_url":"http://127.0.0.1:8080/hook"}`)
	require.Equal(t, http.StatusAccepted, a.code, "%s", a.body)
	insp := asynq.NewInspector(srv.AsynqOpt())
	t.Cleanup(func() { _ = insp.Close() })
	list, err := insp.ListPendingTasks(tasks.QueueTransactional)
	require.NoError(t, err)
	require.Len(t, list, 1)
}

func campaignPacing() pacing.Spec {
	return pacing.Spec{StartDate: "2099-05-04 09:00", TimeZone: "Europe/Madrid"}
}

// serve runs h for a test that builds its own API.
func serve(t *testing.T, h http.Handler) *bundle {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &bundle{url: hs.URL}
}
