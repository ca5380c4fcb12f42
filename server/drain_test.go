package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/codec"
)

// TestShutdownDeliversQueuedThenCloses: messages the server has received
// before Shutdown reach every subscriber before its 1012; /health turns 503
// at once and never back.
func TestShutdownDeliversQueuedThenCloses(t *testing.T) {
	o := testOptions()
	o.Workers = 1 // publishes queue up behind each other
	s := startServer(t, o)
	const subs, msgs = 20, 50
	var clients []*websocket.Conn
	for i := 0; i < subs; i++ {
		c := dialGorilla(t, wsURL(s, "/ws")).c
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribe","channel":"news","id":"s"}`))
		if _, ack, err := c.ReadMessage(); err != nil || string(ack) != `{"type":"ack","id":"s"}` {
			t.Fatalf("subscribe %d: %s %v", i, ack, err)
		}
		clients = append(clients, c)
	}
	pub := dialGorilla(t, wsURL(s, "/ws")).c
	received := func() float64 { return counterValue(t, s.m.MessagesReceived) }
	before := received()
	for i := 0; i < msgs; i++ {
		msg := fmt.Sprintf(`{"type":"publish","channel":"news","data":%d}`, i)
		if err := pub.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// Shut down as soon as the server has read them all, without waiting
	// for a single ack: most are still queued for the one worker.
	waitFor(t, 10*time.Second, "publishes read", func() bool { return received()-before >= msgs })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	waitFor(t, 5*time.Second, "draining", func() bool { st, _ := s.Health(); return st == 503 })

	for i, c := range clients {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for want := 0; want < msgs; want++ {
			_, p, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("subscriber %d: message %d lost before the close: %v", i, want, err)
			}
			var m struct {
				Type string
				Data int
			}
			if json.Unmarshal(p, &m) != nil || m.Type != "message" || m.Data != want {
				t.Fatalf("subscriber %d: got %s, want message %d", i, p, want)
			}
		}
		_, _, err := c.ReadMessage()
		if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 1012 {
			t.Fatalf("subscriber %d: want close 1012 after the messages, got %v", i, err)
		}
	}
	// The publisher answers the close too once it has read its acks.
	_ = pub.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := pub.ReadMessage(); err != nil {
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if st, body := s.Health(); st != 503 {
		t.Fatalf("after shutdown /health = %d %s, want 503", st, body)
	}
}

// TestShutdownForcesSilentClients: a client that never answers the close is
// force-closed when the shutdown timeout ends.
func TestShutdownForcesSilentClients(t *testing.T) {
	s := startServer(t, testOptions())
	r := dialRaw(t, s, "/echo")
	const timeout = 500 * time.Millisecond
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := s.Shutdown(ctx)
	elapsed := time.Since(start)
	f, ferr := r.next()
	if ferr != nil || f.op != codec.OpClose || closeCode(f) != closeServiceRestart {
		t.Fatalf("want close 1012, got %v %v", f.op, ferr)
	}
	r.expectEOF()
	if err == nil {
		t.Fatal("Shutdown reported no force-closed connection")
	}
	checkElapsed(t, "shutdown", elapsed, timeout)
	if n := s.poll.Len(); n != 0 {
		t.Fatalf("%d sockets left after shutdown", n)
	}
}

// TestDrainSpreadServesUntilTurn: the drain's 1012 closes are spread over
// the window (300 connections at 1 ms each: 300 ms), and connections whose
// turn has not come are still served: after the first client saw its
// close, the others still get their echoes.
func TestDrainSpreadServesUntilTurn(t *testing.T) {
	o := testOptions()
	o.DrainSpread = 10 * time.Second // capped at 1 ms per connection: 300 ms
	s := startServer(t, o)
	const n = 300
	type result struct {
		at      time.Time
		code    int
		replies int // echoes answered after the drain began
	}
	clients := make([]*websocket.Conn, n)
	for i := range clients {
		clients[i] = dialGorilla(t, wsURL(s, "/echo")).c
	}
	firstClose := make(chan struct{})
	var once sync.Once
	results := make(chan result, n)
	for _, c := range clients {
		go func() {
			var r result
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			for {
				_, _, err := c.ReadMessage()
				if err != nil {
					r.at = time.Now()
					if ce, ok := err.(*websocket.CloseError); ok {
						r.code = ce.Code
					}
					once.Do(func() { close(firstClose) })
					results <- r
					return
				}
				r.replies++
			}
		}()
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	<-firstClose
	// Every client still open gets a message; those whose turn is later
	// answer it before their close.
	for _, c := range clients {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_ = c.WriteMessage(websocket.TextMessage, []byte("still there?")) // fails on closed ones
	}
	var first, last time.Time
	served := 0
	for range n {
		r := <-results
		if r.code != 1012 {
			t.Fatalf("close code %d, want 1012", r.code)
		}
		if first.IsZero() || r.at.Before(first) {
			first = r.at
		}
		if r.at.After(last) {
			last = r.at
		}
		served += r.replies
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	span := last.Sub(first)
	t.Logf("closes from %v to %v after Shutdown (span %v); %d clients answered after the first close",
		first.Sub(start), last.Sub(start), span, served)
	if span < 200*time.Millisecond {
		t.Errorf("closes spanned %v, want about 300 ms (spread, not at once)", span)
	}
	if served < n/4 {
		t.Errorf("only %d of %d clients were served after the first close", served, n)
	}
}
