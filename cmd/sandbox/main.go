// Command sandbox serves fake Kaizala, Kandy, Keccel, Sakari and
// Conectaline APIs on one loopback port, for pointing a worker at
// something safe. Each provider lives under its own path; /_control
// switches faults at run time (see package sandbox/hub).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/smsq/smsq/sandbox/hub"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7380", "listen address")
	keep := flag.Bool("keep-messages", false, "keep every accepted message in memory (default: counts only)")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
	h := hub.New(hub.Options{KeepMessages: *keep})
	defer h.Close()
	root := "http://" + ln.Addr().String()
	fmt.Printf("sandbox listening on %s\n", root)
	for _, name := range h.Names() {
		fmt.Printf("  %-12s base_url: %s\n", name, hub.BaseURL(root, name))
	}
	fmt.Printf("  control:     %s/_control\n", root)

	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}
