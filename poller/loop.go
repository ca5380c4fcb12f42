package poller

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/wsedge/wsedge/internal/runalloc"
	"github.com/wsedge/wsedge/timerwheel"
)

type taskKind uint8

// Connection tasks (close, flush, retime, end) are posted at most once per
// connection at a time (Conn.requestLocked), std reads one at a time per
// connection; the others come from Do, Each, Timers and Stop. So a loop's
// task list holds at most five entries per connection it owns, plus one per
// Do, Each, Timers or Stop call in progress.
const (
	taskClose  taskKind = iota // close now with err
	taskFlush                  // FlushSoon
	taskRetime                 // the write-timeout clock started: pull the timer in
	taskEnd                    // the final bytes are out: close or linger
	taskFunc
	taskStop
	taskOpen // std: a new connection for this loop
	taskRead // std: bytes (or an error) from a connection's reader
)

// task is work posted to a loop from another goroutine.
type task struct {
	kind taskKind
	c    *Conn
	err  error
	fn   func()
	b    []byte // taskRead
}

// loop is one event loop: a goroutine that owns its connections, their
// timers and their input buffers. The backend's fields sit here too.
type loop struct {
	p     *Poller
	id    int
	buf   []byte // the shared read buffer
	wheel *timerwheel.Wheel[uint32]
	count atomic.Int64
	// fresh is the connections allocated for the next accepts: in runs, so
	// that a ramp's connections share spans with each other rather than with
	// its garbage (internal/runalloc; at most 64 KiB, a sixteenth of the
	// loop's connections).
	fresh runalloc.Reserve[*Conn]

	mu      sync.Mutex
	tasks   []task
	spare   []task
	woken   atomic.Bool
	stopped bool

	leftovers bytebufferpool.Pool
	// held is the unconsumed input (a partial frame) of the loop's
	// connections that have some: a table the loop owns rather than a
	// pointer in every Conn, which few connections use at any moment (issue
	// 19). At most one entry per connection of the loop; heldPeak is the
	// most it has had since it was made.
	held     map[*Conn]*bytebufferpool.ByteBuffer
	heldPeak int
	parked   []*Conn // adopted connections waiting for StartAdopted

	// epoll backend.
	epfd, efd     int
	acceptPaused  bool          // the listener is out of the epoll set
	acceptResume  int64         // loop time to watch the listener again
	acceptBackoff time.Duration // the last pause; doubles while accepts keep failing

	// uring backend.
	ring      *ring
	epollMore bool  // the epoll set may hold events: look this round
	now       int64 // the loop clock of the current round
	sends     sendState

	// std backend.
	wakeCh chan struct{}
	conns  map[*Conn]struct{}
}

func newLoop(p *Poller, id int) *loop {
	l := &loop{p: p, id: id, buf: make([]byte, p.cfg.ReadBuffer), epfd: -1, efd: -1}
	l.wheel = timerwheel.New[uint32](p.cfg.Tick, p.Now())
	l.fresh = runalloc.New(p.lay.connSize(), p.lay.newConns)
	return l
}

// post queues a task for the loop and wakes it. Safe from any goroutine.
func (l *loop) post(t task) {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		l.drop(t)
		return
	}
	l.tasks = append(l.tasks, t)
	// Wake under the lock: the loop marks itself stopped under it, and only
	// then may the driver close the wake descriptor, so a post never writes
	// to a closed (or reused) descriptor number.
	if l.woken.CompareAndSwap(false, true) {
		l.p.d.wake(l)
	}
	l.mu.Unlock()
}

// runTasks drains posted tasks; it reports true when the loop must exit.
func (l *loop) runTasks() bool {
	l.woken.Store(false)
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = l.spare[:0]
	l.mu.Unlock()
	stop := false
	for i := range tasks {
		t := &tasks[i]
		switch t.kind {
		case taskFunc:
			t.fn()
		case taskClose:
			l.closeConn(t.c, t.err)
		case taskFlush:
			t.c.done(taskFlush)
			t.c.flushFromLoop()
		case taskRetime:
			t.c.done(taskRetime)
			if !t.c.loopClosed {
				l.schedule(t.c)
			}
		case taskEnd:
			t.c.done(taskEnd)
			l.linger(t.c)
		case taskOpen:
			l.stdOpen(t.c)
		case taskRead:
			l.stdRead(t.c, t.b, t.err)
		case taskStop:
			stop = true
		}
		*t = task{}
	}
	l.mu.Lock()
	l.spare = tasks[:0]
	l.mu.Unlock()
	if stop {
		l.shutdown()
	}
	return stop
}

func (l *loop) shutdown() {
	var open []*Conn
	l.p.d.each(l, func(c *Conn) { open = append(open, c) })
	for _, c := range open {
		l.closeConn(c, ErrShutdown)
	}
	l.mu.Lock()
	l.stopped = true
	rest := l.tasks
	l.tasks = nil
	l.mu.Unlock()
	for _, t := range rest {
		l.drop(t)
	}
}

// drop disposes of a task the stopped loop will not run: Each must still
// return, and a connection accepted too late must not leak its socket.
func (l *loop) drop(t task) {
	switch {
	case t.fn != nil:
		t.fn()
	case t.kind == taskOpen:
		_ = t.c.std().nc.Close()
	}
}

// opened runs the handler on a new connection. Loop only.
func (l *loop) opened(c *Conn) {
	l.count.Add(1)
	l.p.h.OnOpen(c)
	if !c.loopClosed {
		c.flushRound()
	}
}

// deliver hands data, the connection's unconsumed input followed by what
// was just read, to the handler and keeps what it leaves. own says data lies
// in the connection's own buffer rather than the loop's. Loop only.
func (l *loop) deliver(c *Conn, data []byte, own bool, now int64) {
	c.lastRead = StampOf(now)
	consumed, err := l.p.h.OnData(c, data)
	if c.loopClosed {
		return
	}
	if err != nil {
		l.closeConn(c, err)
		return
	}
	l.keep(c, data[consumed:], own)
	c.flushRound()
}

// feed hands the handler bytes read elsewhere than into the loop buffer (a
// provided ring buffer, a std reader's buffer): after the connection's
// leftover, in the loop buffer if both fit, else in the connection's own
// buffer, grown with what has arrived as on epoll. b is not retained. Loop
// only.
func (l *loop) feed(c *Conn, b []byte, now int64) {
	lo := l.leftover(c)
	switch {
	case lo == nil:
		l.deliver(c, b, false, now)
	case len(lo.B)+len(b) <= len(l.buf):
		left := copy(l.buf, lo.B)
		l.deliver(c, l.buf[:left+copy(l.buf[left:], b)], false, now)
	default:
		lb := lo.B
		if cap(lb)-len(lb) < len(b) {
			nb := make([]byte, len(lb), len(lb)+max(len(lb)/4, len(l.buf), len(b)))
			copy(nb, lb)
			lb = nb
		}
		lo.B = append(lb, b...)
		l.deliver(c, lo.B, true, now)
	}
}

// grow makes room in a connection's input buffer b for at least a loop
// buffer's worth of new bytes: its capacity stays within what it holds plus
// a quarter of that or one loop buffer, whichever is more, so a buffer never
// holds much more than the peer sent (whatever a frame header announced)
// and copying stays linear.
func (l *loop) grow(b []byte) []byte {
	if cap(b)-len(b) >= len(l.buf)/4 {
		return b
	}
	nb := make([]byte, len(b), len(b)+max(len(b)/4, len(l.buf)))
	copy(nb, b)
	return nb
}

// keep holds rest, the input the handler did not consume, until the next
// read. own says rest already lies in the connection's own buffer.
func (l *loop) keep(c *Conn, rest []byte, own bool) {
	lo := l.leftover(c)
	switch {
	case len(rest) == 0:
		l.dropLeftover(c)
	case own && len(rest) >= len(l.buf):
		// Still a big frame under way: shift its tail down in place.
		lo.B = lo.B[:copy(lo.B[:cap(lo.B)], rest)]
	default:
		if own {
			// A big buffer with a small tail left: give the big one back
			// to the collector, keep the tail in a pooled one.
			small := l.leftovers.Get()
			small.B = append(small.B[:0], rest...)
			l.held[c] = small
			lo.B = nil
			l.leftovers.Put(lo)
			return
		}
		if lo == nil {
			lo = l.leftovers.Get()
			l.hold(c, lo)
		}
		if cap(lo.B) < len(rest) {
			// Exactly what is held (append would add a quarter more).
			lo.B = make([]byte, 0, len(rest))
		}
		lo.B = append(lo.B[:0], rest...)
	}
}

// leftover is c's unconsumed input, nil when none. Loop only.
func (l *loop) leftover(c *Conn) *bytebufferpool.ByteBuffer {
	if len(l.held) == 0 {
		return nil
	}
	return l.held[c]
}

// hold files b as c's unconsumed input. Loop only.
func (l *loop) hold(c *Conn, b *bytebufferpool.ByteBuffer) {
	if l.held == nil {
		l.held = make(map[*Conn]*bytebufferpool.ByteBuffer)
	}
	l.held[c] = b
	l.heldPeak = max(l.heldPeak, len(l.held))
}

// dropLeftover returns the connection's input buffer, if any. Buffers grown
// past a loop buffer are left to the collector rather than pooled. The
// table is dropped once empty after it held many (a Go map keeps its size),
// so a burst of partial frames leaves no memory behind.
func (l *loop) dropLeftover(c *Conn) {
	lo := l.leftover(c)
	if lo == nil {
		return
	}
	if cap(lo.B) > len(l.buf) {
		lo.B = nil
	}
	l.leftovers.Put(lo)
	delete(l.held, c)
	if len(l.held) == 0 && l.heldPeak > heldKeep {
		l.held, l.heldPeak = nil, 0
	}
}

// heldKeep is how many entries the table of unconsumed input may have had
// and still be kept once empty.
const heldKeep = 64

// fire runs for every wheel entry that came due.
func (l *loop) fire(e *timerwheel.Entry[uint32]) {
	c := connOf(e)
	if c.loopClosed {
		return
	}
	now := l.p.Now()
	if wt := l.p.cfg.WriteTimeout; wt > 0 {
		since := c.blockedSince()
		if since != 0 && now-since >= int64(wt) {
			l.closeConn(c, ErrWriteTimeout)
			return
		}
	}
	if c.lingering {
		l.closeConn(c, nil)
		return
	}
	if c.deadline != 0 && due(c.deadline, now) {
		c.deadline = 0
		l.p.h.OnTimer(c, now)
		if c.loopClosed {
			return
		}
		c.flushRound()
	}
	l.schedule(c)
}

// schedule arms the connection's wheel entry at its earliest deadline.
func (l *loop) schedule(c *Conn) {
	at := int64(0)
	if c.deadline != 0 {
		at = c.deadline.Near(l.p.Now())
	}
	if wt := l.p.cfg.WriteTimeout; wt > 0 {
		since := c.blockedSince()
		if since != 0 && (at == 0 || since+int64(wt) < at) {
			at = since + int64(wt)
		}
	}
	if at == 0 {
		l.wheel.Cancel(&c.timer)
		return
	}
	l.wheel.Schedule(&c.timer, at)
}

// closeConn closes the socket and forgets the connection. Loop only.
func (l *loop) closeConn(c *Conn, err error) {
	if c.loopClosed {
		return
	}
	c.loopClosed = true
	c.mu.Lock()
	c.closed = true
	c.releaseQueue()
	c.mu.Unlock()
	l.wheel.Cancel(&c.timer)
	l.dropLeftover(c)
	l.p.d.closeSocket(c)
	l.p.h.OnClose(c, err)
	l.count.Add(-1) // after OnClose: once Len counts a connection out, its handler is done with it
}

// linger half-closes a connection whose last bytes are written and closes it
// when the peer's FIN arrives or the linger timeout passes. Loop only.
func (l *loop) linger(c *Conn) {
	if c.loopClosed || c.lingering {
		return
	}
	c.mu.Lock()
	now, detached := c.noLinger, c.detach != attached
	c.mu.Unlock()
	if detached {
		return // another process serves the socket: never shut it down here
	}
	if now {
		l.closeConn(c, nil)
		return
	}
	c.lingering = true
	l.p.d.shutdownWrite(c)
	l.dropLeftover(c)
	t := l.p.Now()
	c.setDeadline(t+int64(l.p.cfg.LingerTimeout), t)
	l.schedule(c)
}
