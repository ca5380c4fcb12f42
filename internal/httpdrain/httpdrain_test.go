package httpdrain

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func serve(t *testing.T) (*http.Server, *Listener, <-chan struct{}) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewListener(raw)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "answered") }),
		ConnState: l.Hook,
	}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return srv, l, served
}

func get(t *testing.T, c net.Conn) string {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

// TestPauseDrainFinish: a connection accepted before the pause is answered
// (and closed: keep-alive is off) and Drained returns only after; one that
// arrives while paused waits in the accept queue, unanswered, and is served
// once resumed; after Finish nothing is accepted.
func TestPauseDrainFinish(t *testing.T) {
	srv, l, served := serve(t)
	addr := l.Addr().String()
	early, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	for l.Busy() == 0 { // accepted
		time.Sleep(time.Millisecond)
	}
	l.Pause(srv)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	if err := l.Drained(ctx); err == nil {
		t.Fatal("drained with a request still to come on an accepted connection")
	}
	cancel()
	late, err := net.Dial("tcp", addr) // completes in the kernel's accept queue
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- l.Drained(ctx)
	}()
	if got := get(t, early); len(got) == 0 || got[:12] != "HTTP/1.1 200" {
		t.Fatalf("request on the connection accepted before the pause: %q", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Drained: %v", err)
	}
	late.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	io.WriteString(late, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if n, _ := late.Read(make([]byte, 1)); n != 0 {
		t.Fatal("a connection that arrived during the pause was served")
	}
	l.Resume(srv)
	late.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 12)
	if _, err := io.ReadFull(late, b); err != nil || string(b) != "HTTP/1.1 200" {
		t.Fatalf("after Resume: %q %v", b, err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Finish(ctx, srv, l); err != nil {
		t.Fatal(err)
	}
	<-served
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting after Finish")
	}
}

// TestNilListener: a server that does not serve through a Listener has
// nothing to pause, drain or resume.
func TestNilListener(t *testing.T) {
	var l *Listener
	srv := &http.Server{}
	l.Pause(srv)
	if err := l.Drained(context.Background()); err != nil {
		t.Fatalf("Drained: %v", err)
	}
	l.Resume(srv)
}
