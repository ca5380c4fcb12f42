package poller

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// goid is the calling goroutine's id, read from its stack header. Tests only.
func goid() uint64 {
	var b [64]byte
	n := runtime.Stack(b[:], false)
	f := bytes.Fields(b[:n])
	id, _ := strconv.ParseUint(string(f[1]), 10, 64)
	return id
}

// ownerHandler checks the poller's promise to handlers: every callback of a
// connection runs on the goroutine of the loop that accepted it, and after
// OnOpen. Each connection is closed from a posted task (Close from another
// goroutine) while its peer may still be sending, so closes land in the
// middle of event batches and descriptors are reused at once by accepts.
type ownerHandler struct {
	wrongLoop   atomic.Int64 // callbacks on another goroutine than the owner loop (or Conn.Handler not this handler)
	beforeOpen  atomic.Int64 // callbacks for a connection whose OnOpen did not run
	afterClose  atomic.Int64 // callbacks after OnClose
	opened      atomic.Int64
	closed      atomic.Int64
	firstReport sync.Once
	report      string
}

type ownerState struct {
	opened  bool
	loop    uint64
	closed  bool
	closing atomic.Bool
}

func (h *ownerHandler) fail(n *atomic.Int64, what string, c *Conn) {
	n.Add(1)
	h.firstReport.Do(func() { h.report = fmt.Sprintf("%s: fd %d", what, c.Fd()) })
}

func (h *ownerHandler) check(c *Conn) *ownerState {
	st := State[ownerState](c)
	switch {
	case !st.opened:
		h.fail(&h.beforeOpen, "callback before OnOpen", c)
	case c.Handler() != Handler(h):
		h.fail(&h.wrongLoop, "Handler is not the poller's handler", c)
	case st.loop != goid():
		h.fail(&h.wrongLoop, "callback on another loop", c)
	case st.closed:
		h.fail(&h.afterClose, "callback after OnClose", c)
	}
	return st
}

func (h *ownerHandler) OnOpen(c *Conn) {
	st := State[ownerState](c)
	if *st != (ownerState{}) || ConnOf(st) != c {
		h.fail(&h.beforeOpen, "OnOpen on a connection whose state is not new", c)
	}
	st.opened, st.loop = true, goid()
	h.opened.Add(1)
}

func (h *ownerHandler) OnData(c *Conn, buf []byte) (int, error) {
	if st := h.check(c); st != nil && st.closing.CompareAndSwap(false, true) {
		c.Write(buf[:1])
		c.Flush()
		go c.Close(errors.New("closed by the test")) // a posted close, as a worker's
		// Hold the loop a moment, as a long batch would: other loops accept
		// meanwhile, reusing descriptors this loop has just closed while
		// events for them may still be waiting in its batch.
		time.Sleep(50 * time.Microsecond)
	}
	return len(buf), nil
}

func (h *ownerHandler) OnTimer(c *Conn, now int64) { h.check(c) }

func (h *ownerHandler) OnClose(c *Conn, err error) {
	if st := h.check(c); st != nil {
		st.closed = true
	}
	h.closed.Add(1)
}

// TestChurnEventsStayWithTheirLoop: many short connections through four
// loops. The kernel hands out the lowest free descriptor, so a descriptor
// closed on one loop is reused at once by another loop's accept; an event
// still pending for the old connection must never reach the new one.
func TestChurnEventsStayWithTheirLoop(t *testing.T) {
	forEachBackend(t, testChurnEventsStayWithTheirLoop)
}

func testChurnEventsStayWithTheirLoop(t *testing.T, backend string) {
	h := &ownerHandler{}
	p := startPollerFor[ownerState](t, Config{Backend: backend, Loops: 4}, h)
	const clients = 16
	dur := 3 * time.Second
	if testing.Short() {
		dur = time.Second
	}
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	var dials atomic.Int64
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				c, err := net.Dial("tcp", p.Addr().String())
				if err != nil {
					continue
				}
				dials.Add(1)
				c.SetDeadline(time.Now().Add(2 * time.Second))
				c.Write([]byte("a"))
				c.Read(make([]byte, 1))
				c.Write([]byte("bcdef")) // races the server's close
				c.Close()
			}
		}()
	}
	wg.Wait()
	waitUntil(t, "every connection closed", func() bool { return p.Len() == 0 && h.closed.Load() == h.opened.Load() })
	t.Logf("%d connections", dials.Load())
	if h.wrongLoop.Load()+h.beforeOpen.Load()+h.afterClose.Load() != 0 {
		t.Fatalf("%d callbacks on another loop, %d before OnOpen, %d after OnClose (first: %s)",
			h.wrongLoop.Load(), h.beforeOpen.Load(), h.afterClose.Load(), h.report)
	}
	if h.opened.Load() < dials.Load()/2 {
		t.Fatalf("only %d of %d connections opened", h.opened.Load(), dials.Load())
	}
}
