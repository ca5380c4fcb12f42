//go:build linux

package main

import (
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/wsfleet"
)

// probe is one /ready request as a load balancer makes it.
type probe struct {
	sent time.Time
	code int // 0: no answer
	body string
}

// prober polls url every 5 ms, as a load balancer's health checker would,
// until stop is closed.
func prober(url string, stop <-chan struct{}) <-chan []probe {
	out := make(chan []probe, 1)
	go func() {
		c := &http.Client{Timeout: 2 * time.Second}
		var ps []probe
		for {
			select {
			case <-stop:
				out <- ps
				return
			default:
			}
			p := probe{sent: time.Now()}
			if res, err := c.Get(url); err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				p.code, p.body = res.StatusCode, string(b)
			}
			ps = append(ps, p)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return out
}

// TestBinaryLameDuck sees the lame duck as a load balancer does: /ready
// answers 503 within 100 ms of SIGTERM and from then on, while /ws keeps
// accepting and serving new clients for the whole -lameduck period; then
// the drain refuses new connections, closes the old ones with 1012 (never
// before the period is over) and the node exits 0. Liveness (admin
// /health) stays 200 throughout.
func TestBinaryLameDuck(t *testing.T) {
	const lame = 1500 * time.Millisecond
	node := startNode(t, nil, "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0",
		"-lameduck", lame.String(), "-shutdown-timeout", "3s", "-drain-spread", "0")
	started := node.log.wait(t, "wsedge started")
	listen, _ := started["listen"].(string)
	adminAddr, _ := started["admin_listen"].(string)
	if code, body := httpGet(t, "http://"+adminAddr+"/ready"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("/ready while serving: %d %s", code, body)
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ping := func(c *websocket.Conn, id string) error {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","id":"`+id+`"}`)); err != nil {
			return err
		}
		_, p, err := c.ReadMessage()
		if err == nil && string(p) != `{"type":"pong","id":"`+id+`"}` {
			t.Errorf("ping %s answered %s", id, p)
		}
		return err
	}
	old, _, err := d.Dial("ws://"+listen+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	// A client that never answers the close frame keeps the drain going
	// until -shutdown-timeout, so the drain itself can be probed.
	silent, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	io.WriteString(silent, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if b := make([]byte, 12); !readFull(silent, b) || string(b) != "HTTP/1.1 101" {
		t.Fatalf("silent client upgrade: %q", b)
	}

	stop := make(chan struct{})
	probes := prober("http://"+adminAddr+"/ready", stop)
	time.Sleep(50 * time.Millisecond)
	sigAt := time.Now()
	node.cmd.Process.Signal(syscall.SIGTERM)

	// New clients are accepted and served during the whole lame duck.
	accepted := 0
	var during []*websocket.Conn
	for time.Since(sigAt) < lame-300*time.Millisecond {
		c, _, err := d.Dial("ws://"+listen+"/ws", nil)
		if err != nil {
			t.Fatalf("%v after SIGTERM, in the lame duck: dial refused: %v", time.Since(sigAt), err)
		}
		during = append(during, c)
		if err := ping(c, "new"); err != nil {
			t.Fatalf("%v after SIGTERM: new client not served: %v", time.Since(sigAt), err)
		}
		accepted++
		time.Sleep(50 * time.Millisecond)
	}
	if err := ping(old, "old"); err != nil {
		t.Fatalf("client from before the lame duck not served in it: %v", err)
	}
	if code, body := httpGet(t, "http://"+adminAddr+"/metrics"); code != 200 ||
		metricValue(t, body, "wsedge_lameduck") != 1 || metricValue(t, body, "wsedge_ready") != 0 {
		t.Errorf("/metrics in the lame duck: wsedge_lameduck %v, wsedge_ready %v",
			metricValue(t, body, "wsedge_lameduck"), metricValue(t, body, "wsedge_ready"))
	}

	// The drain: the old clients get 1012, not before the lame duck ends.
	for _, c := range append(during, old) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := c.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseServiceRestart) {
			t.Fatalf("want close 1012 from the drain, got %v", err)
		}
		if at := time.Since(sigAt); at < lame {
			t.Fatalf("closed %v after SIGTERM, inside the %v lame duck", at, lame)
		}
	}
	if _, _, err := d.Dial("ws://"+listen+"/ws", nil); err == nil {
		t.Error("a new client was accepted during the drain")
	}
	if code, body := httpGet(t, "http://"+adminAddr+"/ready"); code != 503 || !strings.Contains(body, `"status":"draining"`) {
		t.Errorf("/ready while draining: %d %s", code, body)
	}
	if code, body := httpGet(t, "http://"+adminAddr+"/health"); code != 200 || !strings.Contains(body, `"status":"draining"`) {
		t.Errorf("admin /health (liveness) while draining: %d %s", code, body)
	}
	if err := node.waitExit(t, 15*time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
	close(stop)
	ps := <-probes

	// The load balancer's view: 200 before, 503 within 100 ms and ever
	// after (as long as the admin listener answers).
	const within = 100 * time.Millisecond
	var before, after, late200 int
	var first503 time.Duration = -1
	for _, p := range ps {
		at := p.sent.Sub(sigAt)
		switch {
		case p.code == 0:
		case at < 0:
			if p.code == 200 {
				before++
			}
		case p.code == 503:
			if first503 < 0 {
				first503 = at
			}
			if at >= within {
				after++
			}
		case at >= within:
			late200++
			t.Errorf("/ready sent %v after SIGTERM answered %d %s", at, p.code, p.body)
		}
	}
	t.Logf("%d probes; first 503 sent %v after SIGTERM; %d clients accepted in the lame duck", len(ps), first503, accepted)
	if before == 0 || after < 10 || late200 > 0 || first503 < 0 || first503 >= within {
		t.Fatalf("/ready: %d answers 200 before SIGTERM, %d 503 after %v, %d 200 after; first 503 %v after SIGTERM",
			before, after, within, late200, first503)
	}
	if accepted < 10 {
		t.Fatalf("only %d clients tried during the lame duck", accepted)
	}
}

func readFull(c net.Conn, b []byte) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadFull(c, b)
	return err == nil
}

// TestBinarySpreadDrain: 2,000 clients (an event-driven fleet in the test
// process) on a node that drains with -drain-spread 2s: every one gets 1012,
// and their closes arrive spread over the window, not at one instant.
func TestBinarySpreadDrain(t *testing.T) {
	const n, spread = 2000, 2 * time.Second
	node := startNode(t, nil, "-addr", "127.0.0.1:0", "-admin-addr", "", "-shutdown-timeout", "20s",
		"-drain-spread", spread.String())
	listen, _ := node.log.wait(t, "wsedge started")["listen"].(string)
	dialAt := time.Now()
	f, err := wsfleet.Dial(wsfleet.Config{Addr: listen, Path: "/ws", Conns: n})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Logf("%d connections open in %v", n, time.Since(dialAt))

	sigAt := time.Now()
	node.cmd.Process.Signal(syscall.SIGTERM)
	conns := f.WaitClosed(30 * time.Second)
	if err := node.waitExit(t, 30*time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
	if m := node.log.wait(t, "drain: closing connections with 1012"); m["connections"] != float64(n) || m["spread"] != spread.String() {
		t.Errorf("drain log line %v", m)
	}
	var at []time.Duration
	for _, c := range conns {
		if c.CloseCode != 1012 {
			t.Fatalf("a client ended with %d (%s), want close 1012", c.CloseCode, c.Cause)
		}
		at = append(at, c.ClosedAt.Sub(sigAt))
	}
	slices.Sort(at)
	p := func(q float64) time.Duration { return at[int(q*float64(len(at)-1))] }
	// The most closes within any 100 ms: evenly spread 5%, at once 100%;
	// at most 25% allows for a loaded machine.
	busiest := 0
	for i, j := 0, 0; i < len(at); i++ {
		for at[i]-at[j] >= 100*time.Millisecond {
			j++
		}
		busiest = max(busiest, i-j+1)
	}
	t.Logf("closes after SIGTERM: first %v, p10 %v, p50 %v, p90 %v, last %v; at most %d within 100 ms",
		at[0], p(0.1), p(0.5), p(0.9), at[len(at)-1], busiest)
	if span := p(0.95) - p(0.05); span < spread*6/10 {
		t.Errorf("the middle 90%% of the closes span %v, want most of the %v window", span, spread)
	}
	if busiest > n/4 {
		t.Errorf("%d of %d closes within 100 ms: a storm, not a spread", busiest, n)
	}
}
