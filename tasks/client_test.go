package tasks_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/callbackurl"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/tasks"
)

func msgTo(callback string) tasks.SendRequest {
	return tasks.SendRequest{Provider: "keccel", To: "+243812345678", Text: "hi", CallbackURL: callback}
}

func TestCallbackURLsMustReachPublicHosts(t *testing.T) {
	t.Parallel()
	rules := tasks.Rules{Providers: []string{"keccel"}}
	for _, u := range []string{
		"https://hooks.example.com/sms?token=abc",
		"https://user:pw@hooks.example.com/sms", // basic auth for the receiver
		"http://203.0.113.7:8080/events",        // documentation range: not reserved for internal use
		"https://[2001:db8::1]/events",
		"https://8.8.8.8/",
	} {
		_, err := rules.Normalize(msgTo(u))
		require.NoError(t, err, u)
	}
	for u, why := range map[string]string{
		"http://localhost:8080/x":          "localhost",
		"http://LOCALHOST./x":              "localhost",
		"http://api.localhost/x":           "localhost",
		"http://127.0.0.1/x":               "127.0.0.1",
		"http://127.9.9.9/x":               "127.9.9.9",
		"http://[::1]:9000/x":              "::1",
		"http://10.1.2.3/x":                "10.1.2.3",
		"http://172.16.0.1/x":              "172.16.0.1",
		"http://192.168.1.1/x":             "192.168.1.1",
		"http://169.254.169.254/latest":    "169.254.169.254",
		"http://[fe80::1%25eth0]/x":        "fe80::1",
		"http://[fd00::5]/x":               "fd00::5",
		"http://0.0.0.0:80/x":              "0.0.0.0",
		"http://[::]/x":                    "::",
		"http://224.0.0.1/x":               "224.0.0.1",
		"http://[ff02::1]/x":               "ff02::1",
		"http://[::ffff:127.0.0.1]/x":      "127.0.0.1",
		"http://100.100.100.200/meta-data": "100.100.100.200",
		"http://[64:ff9b::a00:1]/x":        "64:ff9b::a00:1",
	} {
		_, err := rules.Normalize(msgTo(u))
		var fe *tasks.FieldError
		require.ErrorAs(t, err, &fe, u)
		require.Equal(t, "callback_url", fe.Field, u)
		require.ErrorIs(t, err, tasks.ErrInvalid, u)
		require.Contains(t, fe.Reason, why, u)
		require.Contains(t, fe.Reason, "api.allow_private_callbacks", u)
		require.ErrorIs(t, callbackurl.Check(u, false), callbackurl.ErrNonPublic, u)
	}
	for _, u := range []string{"ftp://hooks.example.com/", "/relative", "https://", "https://user:pw@127.0.0.1/",
		"http://hooks.example.com@10.0.0.1/", "http://2130706433/", "http://0x7f.1/", "http://127.1/", "http://0177.0.0.1/"} {
		_, err := rules.Normalize(msgTo(u))
		var fe *tasks.FieldError
		require.ErrorAs(t, err, &fe, u)
		require.Equal(t, "callback_url", fe.Field, u)
		require.NotContains(t, fe.Reason, "pw", "the URL is not repeated")
	}
}

func TestAllowPrivateCallbacksAcceptsInternalHosts(t *testing.T) {
	t.Parallel()
	rules := tasks.Rules{Providers: []string{"keccel"}, AllowPrivateCallbacks: true}
	for _, u := range []string{"http://127.0.0.1:8080/x", "http://localhost/x", "http://10.0.0.1/x", "http://[::1]/x"} {
		_, err := rules.Normalize(msgTo(u))
		require.NoError(t, err, u)
	}
	_, err := rules.Normalize(msgTo("ftp://127.0.0.1/"))
	require.Error(t, err, "the switch relaxes the address check, not the scheme")
}

func TestSendRecordsTheProducer(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := tasks.NewClient(srv.AsynqOpt(), srv.Client(), tasks.Rules{Providers: []string{"keccel"}}, ledger.Options{})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()

	r := msgTo("")
	r.ID, r.Producer = "own-1", "shop"
	acc, err := c.Send(ctx, r)
	require.NoError(t, err)
	require.Equal(t, "shop", acc.Message.Producer)
	rec, err := c.Status(ctx, "own-1")
	require.NoError(t, err)
	require.Equal(t, "shop", rec.Producer)

	// A repeat by anyone answers the record as it is; its owner stays.
	r.Producer = "crm"
	acc, err = c.Send(ctx, r)
	require.NoError(t, err)
	require.True(t, acc.Duplicate)
	require.Equal(t, "shop", acc.Message.Producer)

	// Someone else's task holds the id and its record is not written yet:
	// the record made here does not claim it for this producer.
	task, err := tasks.NewSendTask(tasks.SendPayload{ID: "theirs-1", Provider: "keccel", To: "+243812345678", Text: "hi"})
	require.NoError(t, err)
	q := asynq.NewClient(srv.AsynqOpt())
	t.Cleanup(func() { _ = q.Close() })
	_, err = q.Enqueue(task)
	require.NoError(t, err)
	r.ID = "theirs-1"
	acc, err = c.Send(ctx, r)
	require.NoError(t, err)
	require.True(t, acc.Duplicate)
	require.Empty(t, acc.Message.Producer)
}

func TestSendRefusesAPrivateCallbackBeforeQueueing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := tasks.NewClient(srv.AsynqOpt(), srv.Client(), tasks.Rules{Providers: []string{"keccel"}}, ledger.Options{})
	t.Cleanup(func() { _ = c.Close() })
	r := msgTo("http://169.254.169.254/latest/meta-data")
	r.ID = "ssrf-1"
	_, err := c.Send(context.Background(), r)
	var fe *tasks.FieldError
	require.True(t, errors.As(err, &fe))
	require.Equal(t, "callback_url", fe.Field)
	_, err = c.Status(context.Background(), "ssrf-1")
	require.ErrorIs(t, err, ledger.ErrNotFound, "nothing was recorded")
	insp := asynq.NewInspector(srv.AsynqOpt())
	t.Cleanup(func() { _ = insp.Close() })
	_, err = insp.GetTaskInfo(tasks.QueueTransactional, "ssrf-1")
	require.Error(t, err, "nothing was queued")
}
