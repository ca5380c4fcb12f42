package server

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/codec"
)

// TestShutdownDeliversQueuedThenCloses: messages the server has received
// before Shutdown reach every subscriber before its 1001; /health turns 503
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
		if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 1001 {
			t.Fatalf("subscriber %d: want close 1001 after the messages, got %v", i, err)
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
	if ferr != nil || f.op != codec.OpClose || closeCode(f) != codec.CloseGoingAway {
		t.Fatalf("want close 1001, got %v %v", f.op, ferr)
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
