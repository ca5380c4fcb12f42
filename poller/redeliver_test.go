package poller

import (
	"bytes"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// pausingHandler leaves everything unconsumed while paused; resume (from
// another goroutine, through Do) unpauses and asks for the held input again.
type pausingHandler struct {
	lineHandler
	paused atomic.Bool
	calls  atomic.Int64 // OnData calls while paused
}

func (h *pausingHandler) OnData(c *Conn, buf []byte) (int, error) {
	if h.paused.Load() {
		h.calls.Add(1)
		return 0, nil
	}
	return h.lineHandler.OnData(c, buf)
}

func (h *pausingHandler) resume(c *Conn) {
	c.Do(func() {
		h.paused.Store(false)
		c.Redeliver()
	})
}

// TestRedeliver: input held while the handler waited is handed over again
// without a new read, small (in the loop buffer) or larger than the loop
// buffer, and what it leaves is kept for the next read.
func TestRedeliver(t *testing.T) { forEachBackend(t, testRedeliver) }

func testRedeliver(t *testing.T, backend string) {
	for _, size := range []int{10, 10000} {
		h := &pausingHandler{}
		h.opened = make(chan *Conn, 1)
		h.paused.Store(true)
		p := startPoller(t, Config{Backend: backend, Loops: 1, ReadBuffer: 4096}, h)
		c := dial(t, p)
		pc := <-h.opened
		line := bytes.Repeat([]byte("y"), size)
		held := append(append([]byte(nil), line...), "\nhalf"...)
		if _, err := c.Write(held); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the held input to reach the handler", func() bool { return h.calls.Load() > 0 })
		// Nothing is answered while paused, and nothing new arrives.
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, _ := c.Read(make([]byte, 1)); n != 0 {
			t.Fatalf("size %d: answered while paused", size)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		h.resume(pc)
		want := string(line) + "!\n"
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
			t.Fatalf("size %d: got %q... (%v)", size, got[:min(len(got), 20)], err)
		}
		// The unconsumed "half" waits for the rest of its line.
		if _, err := c.Write([]byte("-done\n")); err != nil {
			t.Fatal(err)
		}
		got = make([]byte, len("half-done!\n"))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "half-done!\n" {
			t.Fatalf("size %d: after the redelivery got %q (%v)", size, got, err)
		}
	}
}
