package e2e

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/api"
	"github.com/smsq/smsq/tasks"
)

// TestAPIKeysSeeOnlyTheirOwnRecords: through enqueue serve, a key reads
// and controls what it created; another key gets 404 for it (as for an id
// never used) and 409 when it reuses a message id; admin keys see all,
// including what the CLI sent.
func TestAPIKeysSeeOnlyTheirOwnRecords(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, false)
	msg := `{"id":"iso-1","provider":"keccel","to":"+243812345678","text":"Your code is 4321"}`
	require.Equal(t, http.StatusAccepted, b.call(t, "POST", "/v1/messages", msg, bearer(shopKey)...).code)

	require.Equal(t, http.StatusOK, b.call(t, "GET", "/v1/messages/iso-1", "", bearer(shopKey)...).code)
	theirs := b.call(t, "GET", "/v1/messages/iso-1", "", bearer(crmKey)...)
	require.Equal(t, http.StatusNotFound, theirs.code)
	require.NotContains(t, string(theirs.body), "812345678")
	reuse := b.call(t, "POST", "/v1/messages", msg, bearer(crmKey)...)
	require.Equal(t, http.StatusConflict, reuse.code, "%s", reuse.body)
	var e api.ErrorBody
	reuse.into(t, &e)
	require.Equal(t, "id", e.Fields[0].Field)
	require.NotContains(t, string(reuse.body), "812345678")
	admin := b.call(t, "GET", "/v1/messages/iso-1", "", bearer(opsKey)...)
	require.Equal(t, http.StatusOK, admin.code)
	var rec api.MessageResponse
	admin.into(t, &rec)
	require.Equal(t, "shop", rec.Message.Producer)

	// A message the CLI sent belongs to no key: admins only.
	var acc tasks.Accepted
	require.Zero(t, b.enqueue(t, &acc, "send", "-p", "keccel", "-t", "+243812345679", "-m", "from the CLI", "--id", "iso-cli"))
	require.Equal(t, http.StatusNotFound, b.call(t, "GET", "/v1/messages/iso-cli", "", bearer(shopKey)...).code)
	require.Equal(t, http.StatusOK, b.call(t, "GET", "/v1/messages/iso-cli", "", bearer(opsKey)...).code)

	// Campaigns likewise.
	created := b.call(t, "POST", "/v1/campaigns", `{"id":"iso-promo","provider":"keccel","message":"Hola",
		"pacing":{"start_date":"2099-03-20 09:00","time_zone":"Europe/Madrid"},"recipients":[{"phone":"+243812345671"}]}`, bearer(shopKey)...)
	require.Equal(t, http.StatusCreated, created.code, "%s", created.body)
	require.Equal(t, http.StatusNotFound, b.call(t, "GET", "/v1/campaigns/iso-promo", "", bearer(crmKey)...).code)
	require.Equal(t, http.StatusNotFound, b.call(t, "POST", "/v1/campaigns/iso-promo/cancel", "", bearer(crmKey)...).code)
	var res api.CampaignResponse
	a := b.call(t, "GET", "/v1/campaigns/iso-promo", "", bearer(shopKey)...)
	require.Equal(t, http.StatusOK, a.code)
	a.into(t, &res)
	require.EqualValues(t, "scheduled", res.Campaign.State, "the other key's cancel did nothing")
	require.Equal(t, http.StatusOK, b.call(t, "POST", "/v1/campaigns/iso-promo/pause", "", bearer(opsKey)...).code)
}

// TestAPIRefusesPrivateCallbacksByDefault: without
// api.allow_private_callbacks, a callback URL on an internal address is
// refused when the message is offered, and nothing is queued.
func TestAPIRefusesPrivateCallbacksByDefault(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, false, false)
	for _, u := range []string{b.rcvURL + "/own", "http://169.254.169.254/latest/meta-data/", "http://localhost:6379/"} {
		a := b.call(t, "POST", "/v1/messages", `{"provider":"keccel","to":"+243812345678","text":"hi","callback_url":"`+u+`"}`, bearer(crmKey)...)
		require.Equal(t, http.StatusUnprocessableEntity, a.code, "%s: %s", u, a.body)
		var e api.ErrorBody
		a.into(t, &e)
		require.Equal(t, "callback_url", e.Fields[0].Field, u)
		require.Contains(t, e.Fields[0].Reason, "api.allow_private_callbacks", u)
	}
	// The CLI applies the same rule.
	require.NotZero(t, b.enqueue(t, nil, "send", "-p", "keccel", "-t", "+243812345678", "-m", "hi", "--callback-url", b.rcvURL+"/cli"))
	ok := b.call(t, "POST", "/v1/messages", `{"provider":"keccel","to":"+243812345678","text":"hi","callback_url":"https://hooks.example.com/sms"}`, bearer(crmKey)...)
	require.Equal(t, http.StatusAccepted, ok.code, "%s", ok.body)
}
