package chaos

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/internal/harness"
)

// unknownWatch records which campaign recipients smsq marks "unknown".
//
// A campaign keeps one state byte per recipient and no history, so once a
// recipient marked unknown has been sent again its byte says "submitted"
// like any other. The watch sees the marks as they happen instead: it
// follows Redis MONITOR and picks out the writes of the unknown byte to the
// campaign's state string, which the campaign's mark script makes with
// SETRANGE (campaign/doc.go documents the key). MONITOR shows the commands
// a Lua script runs, each on a line of its own.
type unknownWatch struct {
	addr string
	// needle starts the MONITOR line of a SETRANGE on the state string.
	needle []byte

	mu        sync.Mutex
	marks     map[int]int // recipient index → times marked unknown
	connected bool
	downSince time.Time
	gaps      []time.Duration // reconnections after the first connection
	lines     int64
}

func newUnknownWatch(addr, statesKey string) *unknownWatch {
	return &unknownWatch{addr: addr, needle: []byte(`lua] "SETRANGE" "` + statesKey + `" `), marks: map[int]int{}}
}

// run follows MONITOR until ctx ends, reconnecting when the server goes
// away (the Redis restart). ready is closed once the first connection
// listens.
func (u *unknownWatch) run(ctx context.Context, ready chan<- struct{}) {
	first := true
	for ctx.Err() == nil {
		conn, rd, err := u.dial(ctx)
		if err != nil {
			_ = harness.Sleep(ctx, 20*time.Millisecond)
			continue
		}
		u.mu.Lock()
		u.connected = true
		if !u.downSince.IsZero() {
			u.gaps = append(u.gaps, time.Since(u.downSince))
			u.downSince = time.Time{}
		}
		u.mu.Unlock()
		if first {
			close(ready)
			first = false
		}
		stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
		u.read(rd)
		stop()
		_ = conn.Close()
		u.mu.Lock()
		u.connected = false
		u.downSince = time.Now()
		u.mu.Unlock()
	}
}

func (u *unknownWatch) dial(ctx context.Context) (net.Conn, *bufio.Reader, error) {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	rd := bufio.NewReaderSize(conn, 1<<20)
	line, err := rd.ReadString('\n')
	if err != nil || line != "+OK\r\n" {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("MONITOR refused: %q %v", line, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, rd, nil
}

// read consumes MONITOR lines until the connection ends.
func (u *unknownWatch) read(rd *bufio.Reader) {
	unknown := byte(campaign.Unknown)
	for {
		line, err := rd.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long command (a mark of a whole batch, a script body): not
			// a SETRANGE; skip the rest of it.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = rd.ReadSlice('\n')
			}
			if err != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		u.mu.Lock()
		u.lines++
		u.mu.Unlock()
		i := bytes.Index(line, u.needle)
		if i < 0 {
			continue
		}
		args, ok := parseRepr(line[i+len(u.needle):])
		if !ok || len(args) != 2 {
			continue
		}
		idx, err := strconv.Atoi(args[0])
		if err != nil {
			continue
		}
		// The mark script writes a run of neighbours with one SETRANGE
		// (campaign/scripts.go): each unknown byte of the value is a
		// mark of the recipient at its offset.
		u.mu.Lock()
		for j := 0; j < len(args[1]); j++ {
			if args[1][j] == unknown {
				u.marks[idx+j]++
			}
		}
		u.mu.Unlock()
	}
}

// snapshot returns the marks seen so far, the reconnection gaps and the
// number of MONITOR lines read.
func (u *unknownWatch) snapshot() (map[int]int, []time.Duration, int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	m := make(map[int]int, len(u.marks))
	for k, v := range u.marks {
		m[k] = v
	}
	return m, append([]time.Duration(nil), u.gaps...), u.lines
}

// parseRepr splits the rest of a MONITOR line into its arguments: each
// is double-quoted with Redis's escapes (\\ \" \n \r \t \a \b \xHH).
func parseRepr(b []byte) ([]string, bool) {
	var out []string
	i := 0
	for {
		for i < len(b) && (b[i] == ' ' || b[i] == '\r' || b[i] == '\n') {
			i++
		}
		if i == len(b) {
			return out, true
		}
		if b[i] != '"' {
			return nil, false
		}
		i++
		var arg []byte
		for {
			if i >= len(b) {
				return nil, false
			}
			c := b[i]
			if c == '"' {
				i++
				break
			}
			if c != '\\' {
				arg = append(arg, c)
				i++
				continue
			}
			if i+1 >= len(b) {
				return nil, false
			}
			switch e := b[i+1]; e {
			case 'n':
				arg, i = append(arg, '\n'), i+2
			case 'r':
				arg, i = append(arg, '\r'), i+2
			case 't':
				arg, i = append(arg, '\t'), i+2
			case 'a':
				arg, i = append(arg, '\a'), i+2
			case 'b':
				arg, i = append(arg, '\b'), i+2
			case 'x':
				if i+3 >= len(b) {
					return nil, false
				}
				v, err := strconv.ParseUint(string(b[i+2:i+4]), 16, 8)
				if err != nil {
					return nil, false
				}
				arg, i = append(arg, byte(v)), i+4
			default:
				arg, i = append(arg, e), i+2
			}
		}
		out = append(out, string(arg))
	}
}
