package server

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/poller"
)

// TestCompressionIdleMemory: what an idle connection holds after it
// exchanged compressed messages. In no-context-takeover mode nothing more
// than an idle plain connection (the compressor and decompressor are pooled
// and held only while a message is processed); in context-takeover mode the
// client's window besides, as big as the client has sent and at most
// 2^client_max_window_bits bytes (here 4 KiB after 3 KiB sent, 4 KiB with
// -compression-window-bits 12, 32 KiB by default).
func TestCompressionIdleMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("heap figures are measured without the race detector (make test runs this test so)")
	}
	const conns = 600
	// What two measurements of the same thing differ by here (a shared
	// machine, the test's clients in the same heap); 10% of the 360 B an
	// idle plain connection costs the server is below it, so that figure
	// comes from wsbench compare (docs/benchmarks.md), and the decoders'
	// windows are also summed exactly.
	const tolerance = 256
	msg := jsonText(3<<10, 31)
	zmsg := zFrame(codec.OpText, true, true, zDeflate(t, msg))
	plainMsg := msgFrame(codec.OpText, true, string(msg))
	perConn := func(t *testing.T, mode codec.Mode, offer string, windowBits uint8, sends int) (heap int64, window int) {
		o := compressionOptions(mode)
		if windowBits != 0 {
			o.Compression.WindowBits = windowBits
		}
		s := startServer(t, o)
		// The clients are bare sockets: the compressed frame is made once.
		clients := make([]net.Conn, conns)
		before := heapInUse()
		for i := range clients {
			c, ext := zdial(t, s, "/echo", offersOf(offer)...)
			if (ext != "") != (offer != "") {
				t.Fatalf("answer %q to %q", ext, offer)
			}
			frame := plainMsg
			if ext != "" {
				frame = zmsg
			}
			for range sends {
				c.send(frame)
				if m := c.readZ(); len(m.payload) != len(msg) {
					t.Fatalf("echo of %d bytes", len(m.payload))
				}
			}
			clients[i] = c.conn
		}
		time.Sleep(100 * time.Millisecond)
		grew := heapInUse() - before
		var mu sync.Mutex // Each runs fn on every loop at once
		n, sum := 0, 0
		s.poll.Each(func(c *poller.Conn) {
			if w := poller.State[wsConn](c); w != nil && w.upgraded() {
				mu.Lock()
				n++
				sum += w.dec.WindowBytes()
				mu.Unlock()
			}
		})
		if n != conns {
			t.Fatalf("%d connections open, want %d", n, conns)
		}
		// Gone before the next population is measured.
		for _, c := range clients {
			c.Close()
		}
		s.Close()
		// The test's own side of each connection (a socket, a bufio.Reader,
		// the raw client) is the same in every mode; the difference between
		// modes is the server's.
		return grew / conns, sum / conns
	}
	// Warm up: deflate's and inflate's tables are built once per process,
	// and the first connection of each kind sizes pools.
	for _, m := range []codec.Mode{codec.ModeNoContextTakeover, codec.ModeContextTakeover} {
		s := startServer(t, compressionOptions(m))
		for _, offer := range []string{pmd, pmd + "; server_max_window_bits=9"} {
			c, _ := zdial(t, s, "/echo", offer)
			c.send(zmsg)
			c.readZ()
		}
	}
	// The first population measured ~170 B more per connection than later
	// ones of any mode (the heap growing its own structures): one unmeasured.
	perConn(t, codec.ModeOff, "", 0, 3)
	plain, _ := perConn(t, codec.ModeOff, "", 0, 3)
	for _, tc := range []struct {
		name       string
		mode       codec.Mode
		offer      string
		windowBits uint8
		sends      int
		min, max   int64 // what the server may hold more than a plain connection
		window     int   // the client window it keeps
	}{
		{"no-context-takeover", codec.ModeNoContextTakeover, pmd + "; client_max_window_bits", 0, 3, -tolerance, tolerance, 0},
		{"context-takeover, client_no_context_takeover", codec.ModeContextTakeover, pmd + "; client_no_context_takeover", 0, 3, -tolerance, tolerance, 0},
		// The window grows by doubling, up to 2^bits: 12 KiB after 9 KiB.
		// The windows it outgrew leave partly used spans (up to ~400 B).
		{"context-takeover, 9 KiB sent", codec.ModeContextTakeover, pmd, 0, 3, 12<<10 - tolerance, 12<<10 + 2*tolerance, 12 << 10},
		{"context-takeover, 48 KiB sent", codec.ModeContextTakeover, pmd, 0, 16, 32<<10 - tolerance, 32<<10 + 2*tolerance, 32 << 10},
		{"context-takeover, window 12", codec.ModeContextTakeover, pmd + "; client_max_window_bits", 12, 16, 4<<10 - tolerance, 4<<10 + 2*tolerance, 4 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			heap, window := perConn(t, tc.mode, tc.offer, tc.windowBits, tc.sends)
			got := heap - plain
			t.Logf("%s: %+d B per idle connection beside a plain one (%d B with the test's side), window %d B", tc.name, got, plain, window)
			if window != tc.window {
				t.Errorf("the decoders keep %d B of window per connection, want %d", window, tc.window)
			}
			if got < tc.min || got > tc.max {
				t.Errorf("%+d B more than a plain connection, want %d to %d", got, tc.min, tc.max)
			}
		})
	}
}

func offersOf(offer string) []string {
	if offer == "" {
		return nil
	}
	return []string{offer}
}
