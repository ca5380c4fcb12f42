package poller

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestAcceptedSocketsHaveNoDelay: small frames leave at once (no Nagle
// delay) on every descriptor backend, although accept no longer sets
// TCP_NODELAY per socket (they inherit it from the listener).
func TestAcceptedSocketsHaveNoDelay(t *testing.T) {
	for _, backend := range Backends() {
		if backend == "std" {
			continue // net.Conn: the standard library sets it
		}
		t.Run(backend, func(t *testing.T) {
			h := &lineHandler{opened: make(chan *Conn, 1)}
			p := startPoller(t, Config{Backend: backend, Loops: 1}, h)
			dial(t, p)
			c := <-h.opened
			v, err := unix.GetsockoptInt(c.Fd(), unix.IPPROTO_TCP, unix.TCP_NODELAY)
			if err != nil || v == 0 {
				t.Fatalf("TCP_NODELAY = %d (%v), want on", v, err)
			}
		})
	}
}
