package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wsedge/wsedge/codec"
)

// TestTenThousandAuthenticated holds 10,000 connections that presented a
// token at the upgrade, each subscribed to the channel limited to its own
// user, on a server in its own process; then 10,000 anonymous ones on a
// node without identities, subscribed the same way, for comparison. The
// identities are real (the user-limited channel is acked only for its
// user), the server keeps no goroutine per connection, and the figures
// (RSS per connection) are logged: docs/benchmarks.md has the quiet-machine
// measurement without the race detector.
func TestTenThousandAuthenticated(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 10,000 sockets; skipped in -short mode")
	}
	const conns = 10000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < conns+500 {
		lim.Cur = min(lim.Max, conns+1000)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	info := `{"n":1}`
	exp := time.Now().Add(time.Hour).Unix()
	tokens := make([]string, conns)
	for i := range tokens {
		tokens[i] = signHS(t, idSecret, jwt.MapClaims{"sub": fmt.Sprintf("u%05d", i), "exp": exp, "info": json.RawMessage(info)})
	}
	var perConn [2]float64
	for pass, auth := range []bool{false, true} {
		overrides := `{"PingInterval":0,"IdleTimeout":0}`
		if auth {
			overrides = `{"PingInterval":0,"IdleTimeout":0,"JWTHMACSecret":"` + idSecret + `"}`
		}
		addr, pid, stop := startChildWith(t, overrides)
		before := childHealth(t, addr)
		rssBefore, _ := limRSS(pid)
		clients := make([]net.Conn, conns)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		const dialers = 16
		for d := range dialers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := d; i < conns; i += dialers {
					tok, ch := "", fmt.Sprintf("n%05d", i)
					if auth {
						tok, ch = tokens[i], fmt.Sprintf("#u%05d", i)
					}
					c, err := subscribeWithToken(addr, tok, ch)
					if err != nil {
						errs <- fmt.Errorf("conn %d: %w", i, err)
						return
					}
					clients[i] = c
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			stop()
			t.FailNow()
		}
		during := childHealth(t, addr)
		time.Sleep(200 * time.Millisecond)
		rss, _ := limRSS(pid)
		perConn[pass] = float64(rss-rssBefore) / conns
		if during.Connections != conns {
			t.Errorf("auth %v: %d connections, want %d", auth, during.Connections, conns)
		}
		allowed := 20
		if testOptions().Poller == "std" {
			allowed += conns // std: a reader per connection
		}
		if grew := during.Goroutines - before.Goroutines; grew > allowed {
			t.Errorf("auth %v: goroutines grew by %d with %d idle connections", auth, grew, conns)
		}
		for _, c := range clients {
			c.Close()
		}
		stop()
	}
	t.Logf("RSS per idle subscribed connection: anonymous %.0f B, with a token %.0f B (user id 6 B, info 7 B; race detector %v)",
		perConn[0], perConn[1], raceEnabled)
}

// subscribeWithToken upgrades /ws with the token in the header (none when
// ""), subscribes to channel and reads exactly the 101 and the ack, without
// a goroutine of its own.
func subscribeWithToken(addr, token, channel string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, wsTimeout)
	if err != nil {
		return nil, err
	}
	extra := ""
	if token != "" {
		extra = bearer(token)
	}
	sub := `{"type":"subscribe","id":"s","channel":"` + channel + `"}`
	req := append([]byte(upgradeRequest("/ws", extra)), msgFrame(codec.OpText, true, sub)...)
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	ack := wsFrameTo(`{"type":"ack","id":"s"}`)
	var buf [1024]byte
	n, head := 0, -1
	for head < 0 || n < head+len(ack) {
		m, err := c.Read(buf[n:])
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("upgrade and subscribe (read %q): %w", buf[:n], err)
		}
		n += m
		if head < 0 {
			if head = headEnd(buf[:n]); head >= 0 && !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101 ")) {
				c.Close()
				return nil, fmt.Errorf("upgrade refused: %q", buf[:n])
			}
		}
	}
	if got := buf[head:n]; !bytes.Equal(got, ack) {
		c.Close()
		return nil, fmt.Errorf("subscribe answered %q, want %q", got, ack)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
