package tasks_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/ledger"
	sbkeccel "github.com/smsq/smsq/sandbox/keccel"
	"github.com/smsq/smsq/tasks"
)

// redisAddr is the Redis the examples use: a private redis-server that
// TestMain starts, with a real worker sending through the Keccel fake.
var redisAddr string

// Example shows a Go backend queueing a one-time password and following
// it until a worker has handed it to the provider.
func Example() {
	ctx := context.Background()
	// The queue and the ledger live in the same Redis.
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	producer := tasks.NewClient(asynq.RedisClientOpt{Addr: redisAddr}, rdb,
		tasks.Rules{Providers: []string{"keccel"}}, ledger.Options{})
	defer producer.Close()

	// The id is the idempotency key: derive it from your own data, so a
	// retried request cannot send the code twice.
	req := tasks.SendRequest{ID: "order-1042-otp", Provider: "keccel", To: "+243 81 234 5678", Text: "Your code is 4321"}
	acc, err := producer.Send(ctx, req)
	if err != nil {
		fmt.Println("not queued:", err)
		return
	}
	fmt.Println("queued:", acc.Message.ID, acc.Message.To, acc.Message.State)

	again, _ := producer.Send(ctx, req)
	fmt.Println("second send is a duplicate:", again.Duplicate)

	// Bad input is refused before anything is queued, naming the field.
	_, err = producer.Send(ctx, tasks.SendRequest{Provider: "keccel", To: "+24312", Text: "hi"})
	var fe *tasks.FieldError
	if errors.As(err, &fe) {
		fmt.Println("refused:", fe.Field)
	}

	// Read the status until a worker has dealt with the message.
	rec, err := producer.Status(ctx, req.ID)
	for deadline := time.Now().Add(30 * time.Second); err == nil && !rec.State.Final() && rec.State != ledger.Submitted && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		rec, err = producer.Status(ctx, req.ID)
	}
	if err != nil {
		fmt.Println("status:", err)
		return
	}
	fmt.Println("now:", rec.State, "attempts:", rec.Attempts, "provider id:", rec.ProviderID != "")
	for _, h := range rec.History {
		fmt.Println("  ", h.State, "by", h.Source)
	}
	// Output:
	// queued: order-1042-otp +243812345678 queued
	// second send is a duplicate: true
	// refused: to
	// now: submitted attempts: 1 provider id: true
	//    queued by producer
	//    sending by worker
	//    submitted by worker
}

// Example_statusEvents shows a backend following status changes on the
// ledger's event stream with its own consumer group, instead of polling.
func Example_statusEvents() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	producer := tasks.NewClient(asynq.RedisClientOpt{Addr: redisAddr}, rdb,
		tasks.Rules{Providers: []string{"keccel"}}, ledger.Options{})
	defer producer.Close()

	// Create the group before sending, starting at the stream's end ("$"):
	// this backend wants what happens from now on.
	stream := ledger.EventsKey("") // "smsq:events"
	if err := rdb.XGroupCreateMkStream(ctx, stream, "billing", "$").Err(); err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		fmt.Println(err)
		return
	}
	if _, err := producer.Send(ctx, tasks.SendRequest{ID: "invoice-77-sms", Provider: "keccel", To: "+243812345679", Text: "Invoice 77 is paid"}); err != nil {
		fmt.Println(err)
		return
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "billing", Consumer: "billing-1",
			Streams: []string{stream, ">"}, Count: 100, Block: time.Second}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		} else if err != nil {
			fmt.Println(err)
			return
		}
		done := false
		for _, m := range res[0].Messages {
			// Fields: id, state, from, source, at (unix ms), provider, pid,
			// cb, error. Acknowledge once handled.
			if m.Values["id"] == "invoice-77-sms" {
				fmt.Printf("%s -> %s (%s)\n", m.Values["from"], m.Values["state"], m.Values["source"])
				done = m.Values["state"] == string(ledger.Submitted)
			}
			rdb.XAck(ctx, stream, "billing", m.ID)
		}
		if done {
			break
		}
	}
	// Output:
	//  -> queued (producer)
	// queued -> sending (worker)
	// sending -> submitted (worker)
}

// TestMain starts a private redis-server, a Keccel fake and a real worker
// for the examples.
func TestMain(m *testing.M) { os.Exit(runExamples(m)) }

func runExamples(m *testing.M) int {
	addr, stop, err := startRedis()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tasks examples:", err)
		return 1
	}
	defer stop()
	redisAddr = addr

	fake := sbkeccel.New(sbkeccel.Options{})
	hs := httptest.NewServer(fake)
	defer func() { hs.Close(); _ = fake.Close() }()
	cfg, err := config.Load("", []string{
		"SMSQ_REDIS__ADDR=" + addr,
		"SMSQ_PROVIDERS__KECCEL__ENABLED=true",
		"SMSQ_PROVIDERS__KECCEL__BASE_URL=" + hs.URL + sbkeccel.BasePath,
		"SMSQ_PROVIDERS__KECCEL__TOKEN=" + sbkeccel.DefaultToken,
		"SMSQ_PROVIDERS__KECCEL__FROM=SMSQ",
		"SMSQ_WORKER__HTTP_ADDR=-",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tasks examples:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunWorker(ctx, cfg, io.Discard, app.WorkerOptions{}) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "tasks examples: worker:", err)
		return 1
	}
	return code
}

// startRedis runs redis-server on a free loopback port (internal/redistest
// needs a *testing.T, which TestMain does not have).
func startRedis() (addr string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, errors.New("redis-server not found: install it (apt-get install -y redis-server)")
	}
	dir, err := os.MkdirTemp("", "smsq-tasks-example-")
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = os.RemoveAll(dir) }
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			continue
		}
		_ = c.SetDeadline(time.Now().Add(time.Second))
		_, _ = c.Write([]byte("PING\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		_ = c.Close()
		if strings.HasPrefix(line, "+PONG") {
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("redis-server did not answer on %s", addr)
}
