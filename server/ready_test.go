package server

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// probeStatus checks one probe's HTTP status and status word.
func probeStatus(t *testing.T, what string, answer func() (int, []byte), code int, word string) {
	t.Helper()
	got, body := answer()
	if got != code || !strings.Contains(string(body), `"status":"`+word+`"`) {
		t.Fatalf("%s: %d %s, want %d with status %q", what, got, body, code, word)
	}
}

// TestLameDuckServesNotReady: in the lame duck /ready and the main port's
// /health answer 503 "lameduck" while liveness stays 200, open connections
// are served, and new upgrades are still accepted and served; the drain
// after it closes them all with 1012.
func TestLameDuckServesNotReady(t *testing.T) {
	s := startServer(t, testOptions())
	probeStatus(t, "/ready before", s.Ready, 200, "ok")
	probeStatus(t, "/health before", s.Health, 200, "ok")
	if got := gatherValue(t, s, "wsedge_ready"); got != 1 {
		t.Fatalf("wsedge_ready = %v before the lame duck", got)
	}
	before := dialGorilla(t, wsURL(s, "/ws"))
	exchange(t, before, `{"type":"ping","id":"a"}`, `{"type":"pong","id":"a"}`)

	s.LameDuck()
	probeStatus(t, "/ready in lame duck", s.Ready, 503, "lameduck")
	probeStatus(t, "/health in lame duck", s.Health, 503, "lameduck")
	probeStatus(t, "liveness in lame duck", s.Live, 200, "lameduck")
	if r, l := gatherValue(t, s, "wsedge_ready"), gatherValue(t, s, "wsedge_lameduck"); r != 0 || l != 1 {
		t.Fatalf("wsedge_ready %v, wsedge_lameduck %v in the lame duck; want 0 and 1", r, l)
	}
	exchange(t, before, `{"type":"ping","id":"b"}`, `{"type":"pong","id":"b"}`)
	after := dialGorilla(t, wsURL(s, "/ws")) // still accepted
	exchange(t, after, `{"type":"ping","id":"c"}`, `{"type":"pong","id":"c"}`)
	echo := dialGorilla(t, wsURL(s, "/echo"))
	exchange(t, echo, "hello", "hello")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	for _, c := range []*gorillaClient{before, after, echo} {
		_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := c.c.ReadMessage(); !websocket.IsCloseError(err, 1012) {
			t.Fatalf("want close 1012 after the lame duck, got %v", err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	probeStatus(t, "/ready after", s.Ready, 503, "draining")
	probeStatus(t, "liveness while stopped", s.Live, 200, "draining")
}

// TestReadyFollowsBroker: with -ready-broker (the default) /ready answers
// 503 "broker_disconnected" while NATS is down and 200 again once it is
// back; with -ready-broker=false the node stays ready. /health on the main
// port never follows the broker.
func TestReadyFollowsBroker(t *testing.T) {
	opts := &natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	port := ns.Addr().(*net.TCPAddr).Port
	o := testOptions()
	o.Broker = ns.ClientURL()
	follows := startServer(t, o)
	o.ReadyBroker = false
	ignores := startServer(t, o)
	probeStatus(t, "/ready with the broker up", follows.Ready, 200, "ok")

	ns.Shutdown()
	ns.WaitForShutdown()
	waitFor(t, 10*time.Second, "/ready 503 with the broker down", func() bool {
		code, _ := follows.Ready()
		return code == 503
	})
	probeStatus(t, "/ready with the broker down", follows.Ready, 503, "broker_disconnected")
	probeStatus(t, "/health with the broker down", follows.Health, 200, "ok")
	probeStatus(t, "/ready, -ready-broker=false", ignores.Ready, 200, "ok")
	if got := gatherValue(t, follows, "wsedge_ready"); got != 0 {
		t.Fatalf("wsedge_ready = %v with the broker down", got)
	}

	// The same address again: the node reconnects by itself.
	opts.Port = port
	ns2, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns2.Start()
	defer func() { ns2.Shutdown(); ns2.WaitForShutdown() }()
	waitFor(t, 20*time.Second, "/ready 200 once the broker is back", func() bool {
		code, _ := follows.Ready()
		return code == 200
	})
}

func TestSpreadWindow(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		n                         int
		spread, left, close, want time.Duration
	}{
		{2000, 10 * time.Second, 30 * time.Second, 2 * time.Second, 2000 * ms}, // 1 ms a connection at most
		{100000, 10 * time.Second, 30 * time.Second, 2 * time.Second, 10 * time.Second},
		{100000, 10 * time.Second, 5 * time.Second, 2 * time.Second, 3 * time.Second}, // the last still has close-timeout
		{100000, 10 * time.Second, time.Second, 2 * time.Second, 0},                   // no time left: at once
		{100000, 0, 30 * time.Second, 2 * time.Second, 0},                             // -drain-spread 0
		{0, 10 * time.Second, 30 * time.Second, 2 * time.Second, 0},
	} {
		if got := spreadWindow(tc.n, tc.spread, tc.left, tc.close); got != tc.want {
			t.Errorf("spreadWindow(%d, %v, %v, %v) = %v, want %v", tc.n, tc.spread, tc.left, tc.close, got, tc.want)
		}
	}
}
