package server

import (
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/internal/memtrim"
)

// TestMemoryTrimAfterBurst: a burst of /ws connections, each subscribing to
// one channel, grows the process; once no connection has arrived for
// -memory-trim-after the server moves the channel's subscriber array to the
// size class that fits it and returns the free heap (one trim, counted and
// logged), and without new growth it does not trim again.
// -memory-trim-after 0 never trims.
func TestMemoryTrimAfterBurst(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		want  float64
	}{
		{"on", 100 * time.Millisecond, 1},
		{"off", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Start from a process holding no free pages (earlier tests'
			// would otherwise serve the burst from memory already retained).
			debug.FreeOSMemory()
			o := testOptions()
			o.MemoryTrimAfter = tc.after
			o.MemoryTrimGrowth = 256 << 10
			s := startWith(t, o, logger(t), nil) // its log lines are the test's to read
			trims := func() float64 { return counterValue(t, s.Metrics().MemoryTrims) }
			start := memtrim.Retained()
			clients := make([]*rawClient, 0, 300)
			for range cap(clients) {
				c := dialRaw(t, s, "/ws")
				c.send(msgFrame(codec.OpText, true, `{"type":"subscribe","id":"s","channel":"burst"}`))
				if f, err := c.next(); err != nil || string(f.payload) != `{"type":"ack","id":"s"}` {
					t.Fatalf("subscribe: %q, %v", f.payload, err)
				}
				clients = append(clients, c)
			}
			defer func() {
				for _, c := range clients {
					c.conn.Close()
				}
			}()
			if grown := int64(memtrim.Retained()) - int64(start); grown < int64(o.MemoryTrimGrowth) {
				t.Fatalf("the burst of 300 connections grew the process by %d B only", grown) // each holds a 4 KiB bufio.Reader here alone
			}
			deadline := time.Now().Add(5 * time.Second)
			for trims() < tc.want && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(10 * max(tc.after, 50*time.Millisecond)) // quiet: no new growth, no new trim
			if got := trims(); got != tc.want {
				t.Fatalf("wsedge_memory_trims_total %v after the burst and a quiet %v, want %v", got, 10*tc.after, tc.want)
			}
			// 300 subscribers had grown the array to 607 slots (4,864 B).
			if moved := strings.Count(testLogs(t), `"channel_arrays_compacted":1`); moved != int(tc.want) {
				t.Fatalf("%d trims logged one channel array moved, want %v:\n%s", moved, tc.want, testLogs(t))
			}
		})
	}
}
