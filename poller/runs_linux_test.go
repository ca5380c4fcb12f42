package poller

import (
	"net"
	"runtime/debug"
	"sync"
	"testing"
	"unsafe"
)

// garbageHandler makes, on every accept, garbage of the connection object's
// own size class (a token check's JSON decoder states do at the upgrade),
// and keeps each connection's address.
type garbageHandler struct {
	mu    sync.Mutex
	addrs []uintptr
}

// garbage is a pointer-holding object of a 144-byte connection's class.
type garbage [18]*int

var garbageSink *garbage

func (h *garbageHandler) OnOpen(c *Conn) {
	for range 2 {
		garbageSink = new(garbage)
	}
	h.mu.Lock()
	h.addrs = append(h.addrs, uintptr(unsafe.Pointer(c)))
	h.mu.Unlock()
}
func (h *garbageHandler) OnData(c *Conn, b []byte) (int, error) { return len(b), nil }
func (h *garbageHandler) OnTimer(*Conn, int64)                  {}
func (h *garbageHandler) OnClose(*Conn, error)                  {}

// TestAcceptRuns: connections accepted while every accept makes garbage of
// their own size class still pack densely, a run of them to a span, because
// a loop takes them from runs (internal/runalloc): the garbage's spans empty
// out whole when collected instead of leaving holes between connections.
// Allocated one by one (1 connection, 2 garbage), 2,000 connections take
// about 110 pages; from runs, which are short while the loop has few
// connections (a sixteenth of them), about 80; 36 would be ideal.
func TestAcceptRuns(t *testing.T) {
	for _, backend := range Backends() {
		if backend == "std" { // its connections carry a socket: another layout
			continue
		}
		t.Run(backend, func(t *testing.T) {
			defer debug.SetGCPercent(debug.SetGCPercent(-1)) // the garbage stays where it was put
			const n = 2000
			if size := unsafe.Sizeof(withState[[48]byte]{}); size != unsafe.Sizeof(garbage{}) {
				t.Fatalf("a connection is %d B, the garbage %d B: not one size class", size, unsafe.Sizeof(garbage{}))
			}
			h := &garbageHandler{}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewFor[[48]byte](ln, Config{Backend: backend, Loops: 1}, h)
			if err != nil {
				t.Fatal(err)
			}
			p.Serve()
			t.Cleanup(p.Stop)
			for range n {
				c, err := net.Dial("tcp", p.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			waitUntil(t, "accepts", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.addrs) == n })
			pages := map[uintptr]bool{}
			for _, a := range h.addrs {
				pages[a>>13] = true
			}
			perPage := 8192 / int(unsafe.Sizeof(garbage{}))
			if most := 5 * n / (2 * perPage); len(pages) > most {
				t.Fatalf("%d connections of %d B on %d pages of 8 KiB, want at most %d (%d fit one)", n, unsafe.Sizeof(garbage{}), len(pages), most, perPage)
			}
			t.Logf("%d connections on %d pages of 8 KiB (%d fit one)", n, len(pages), perPage)
		})
	}
}
