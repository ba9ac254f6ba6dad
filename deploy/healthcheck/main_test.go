package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckPassesOnlyOnA2xxAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			_, _ = w.Write([]byte("ok\n"))
		case "/readyz":
			http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	require.NoError(t, check(context.Background(), srv.Client(), srv.URL+"/healthz"))

	err := check(context.Background(), srv.Client(), srv.URL+"/readyz")
	require.ErrorContains(t, err, "503")

	err = check(context.Background(), srv.Client(), srv.URL+"/missing")
	require.ErrorContains(t, err, "404")
}

func TestCheckFailsWhenNothingListens(t *testing.T) {
	t.Parallel()
	// Take a free port and close it again, so the dial is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	require.Error(t, check(context.Background(), http.DefaultClient, "http://"+addr+"/healthz"))
}

func TestCheckGivesUpWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, check(ctx, srv.Client(), srv.URL), context.Canceled)
}
