package server

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// heapInUse is the live heap after the garbage collector ran (twice, so
// pooled buffers nobody holds are gone too).
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// TestPartialFrameMemory: what a connection holds for an unfinished frame
// grows with what the peer sent, never with the length its header announces
// (frame headers are free to write, memory is not). 100 connections each send
// a frame header and part of its payload; the server's heap must grow by at
// most what they sent, plus a quarter of it or one read buffer (the growth
// step that keeps copying linear), plus a little.
func TestPartialFrameMemory(t *testing.T) {
	const conns = 100
	for _, tc := range []struct {
		name           string
		maxMessageSize int64
		announced      uint64
		sent           int
	}{
		{"limit off, 16 MiB announced, 200 B sent", 0, 16 << 20, 200},
		{"default limit, 64 KiB announced, 60 KiB sent", 64 << 10, 64 << 10, 60 << 10},
		{"1 MiB limit, 1 MiB announced, 300 KiB sent", 1 << 20, 1 << 20, 300 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			if (o.Poller == "std" || o.Poller == "uring") && raceEnabled {
				// With a reader goroutine per connection (std), the race
				// detector's own bookkeeping swamps the figure (60 KiB held
				// measured 60-130 KiB); on uring it pushed the 300 KiB case
				// 2% past its bound. make test runs both without -race.
				t.Skip(o.Poller + " backend: measured without the race detector (make test)")
			}
			o.MaxMessageSize = tc.maxMessageSize
			s := startServer(t, o)
			clients := make([]*rawClient, conns)
			for i := range clients {
				clients[i] = dialRaw(t, s, "/echo")
			}
			before := heapInUse()
			// The header and half the payload, then the other half: the
			// second read is where a buffer is sized for the rest.
			payload := make([]byte, tc.sent)
			for _, c := range clients {
				head := []byte{0x82, 0x80 | 127}
				head = binary.BigEndian.AppendUint64(head, tc.announced)
				head = append(head, 0, 0, 0, 0) // mask key
				c.send(head, payload[:tc.sent/2])
			}
			time.Sleep(100 * time.Millisecond)
			for _, c := range clients {
				c.send(payload[tc.sent/2:])
			}
			// Wait until the server has read everything: its sockets'
			// receive queues count nothing on the heap.
			time.Sleep(300 * time.Millisecond)
			grew := (heapInUse() - before) / conns
			bound := int64(tc.sent) + max(int64(tc.sent)/4, 64<<10) + 2<<10
			if tc.sent < 64<<10 {
				bound = int64(tc.sent) + 2<<10 // held in a buffer of its size
			}
			t.Logf("heap per connection: %d B for %d B sent (bound %d B)", grew, tc.sent, bound)
			if grew > bound {
				t.Fatalf("each connection holds %s for a %s partial frame announced as %s (bound %s)",
					size(grew), size(int64(tc.sent)), size(int64(tc.announced)), size(bound))
			}
		})
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
