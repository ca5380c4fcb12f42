package httpdrain

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestHandoffAnswersAcceptedRequests: a connection accepted before the
// handoff whose request arrives after it began is answered, not dropped as
// http.Server.Shutdown alone drops it (the control case shows the drop, so
// the test would notice a fix in net/http making this package moot).
func TestHandoffAnswersAcceptedRequests(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handoff bool
	}{{"handoff", true}, {"shutdown alone", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var tr Tracker
			srv := &http.Server{
				Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "answered") }),
				ConnState: tr.Hook,
			}
			served := make(chan struct{})
			go func() { defer close(served); srv.Serve(ln) }()

			// Accepted, but its request not sent yet.
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for tr.Busy() == 0 { // until the server accepted it
				time.Sleep(time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				if tc.handoff {
					done <- Handoff(ctx, srv, ln, served, &tr)
				} else {
					done <- srv.Shutdown(ctx)
				}
			}()
			time.Sleep(50 * time.Millisecond) // the stop is under way
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, err := io.ReadAll(c)
			answered := len(b) > 0 && err == nil
			if answered != tc.handoff {
				t.Fatalf("answered=%v (%q, %v), want %v", answered, b, err, tc.handoff)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if c2, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
				c2.Close()
				t.Fatal("still accepting after the stop")
			}
		})
	}
}
