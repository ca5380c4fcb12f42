package poller

import (
	"io"
	"net/netip"
	"sync"
	"unsafe"

	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/timerwheel"
)

// Conn is one accepted connection. Methods marked "loop only" may be called
// only from Handler callbacks; the write methods are safe from any goroutine.
type Conn struct {
	timer  timerwheel.Entry[struct{}] // first field: connOf maps an entry back to its Conn
	loop   *loop
	ctx    any
	sealer *sealer // TLS: application bytes go through it, ciphertext comes back via WriteRaw

	// Loop-owned state: touched only by the loop goroutine.
	leftover   *bytebufferpool.ByteBuffer // unconsumed input (a partial frame), nil when none
	lastRead   int64
	deadline   int64
	fd         int32
	gen        uint32   // tells this connection's epoll events from those of an earlier one on fd
	raddr      [16]byte // the peer, kept unpacked: netip.AddrPort would cost 12 more bytes
	rport      uint16
	r4         bool
	loopClosed bool
	lingering  bool

	// Write state, guarded by mu.
	closed     bool
	armed      bool  // EPOLLOUT is registered
	final      bool  // the last bytes are queued: later writes fail with ErrClosed
	closeAfter bool  // half-close once the queue drains
	noLinger   bool  // with closeAfter: close at once instead of waiting for the peer's FIN
	pending    uint8 // bit 1<<kind: a task of that kind is in the loop's list
	mu         sync.Mutex
	queued     int32
	q          *outQueue // nil while nothing is queued
}

// connOf returns the Conn whose timer is e. The entry is the Conn's first
// field, so the two share an address; storing a back pointer instead would
// cost every connection 8 bytes.
func connOf(e *timerwheel.Entry[struct{}]) *Conn { return (*Conn)(unsafe.Pointer(e)) }

// The compiler checks that the timer stays the first field.
var _ = [1]struct{}{}[unsafe.Offsetof(Conn{}.timer)]

// event is the epoll registration of the connection: its descriptor and
// generation travel in the event data.
func (c *Conn) event(events uint32) *unix.EpollEvent {
	return &unix.EpollEvent{Events: events, Fd: c.fd, Pad: int32(c.gen)}
}

// Handler returns the handler the connection's events go to.
func (c *Conn) Handler() Handler { return c.loop.p.h }

// sealer boxes the TLS writer so a plain connection pays one pointer for it.
// mu orders WriteFinal against the other sealed writes.
type sealer struct {
	mu sync.Mutex
	w  io.Writer
}

// seal writes b through the sealer unless the final bytes are queued; with
// final, b is the last.
func (c *Conn) seal(b []byte, final bool) error {
	c.sealer.mu.Lock()
	defer c.sealer.mu.Unlock()
	c.mu.Lock()
	done := c.final || c.closed
	c.mu.Unlock()
	if done {
		return ErrClosed
	}
	if _, err := c.sealer.w.Write(b); err != nil {
		return err
	}
	if final {
		c.mu.Lock()
		c.final = true
		c.mu.Unlock()
	}
	return nil
}

// Context returns the value set with SetContext.
func (c *Conn) Context() any { return c.ctx }

// SetContext attaches the handler's per-connection state. Loop only.
func (c *Conn) SetContext(v any) { c.ctx = v }

// RemoteAddr is the TCP peer's address.
func (c *Conn) RemoteAddr() netip.AddrPort {
	a := netip.AddrFrom16(c.raddr)
	if c.r4 {
		a = a.Unmap()
	}
	return netip.AddrPortFrom(a, c.rport)
}

func (c *Conn) setRemote(ap netip.AddrPort) {
	c.raddr, c.rport, c.r4 = ap.Addr().As16(), ap.Port(), ap.Addr().Is4()
}

// LoopID is the index of the loop that owns the connection, so handlers can
// keep per-loop scratch state without locks.
func (c *Conn) LoopID() int { return c.loop.id }

// Do runs fn on the connection's loop goroutine (at once is never: it is
// queued, and runs even if the connection has closed meanwhile).
func (c *Conn) Do(fn func()) { c.loop.post(task{kind: taskFunc, fn: fn}) }

// Closed reports whether the loop has closed the socket. Loop only.
func (c *Conn) Closed() bool { return c.loopClosed }

// Fd is the socket's descriptor (for logs and tests).
func (c *Conn) Fd() int { return int(c.fd) }

// LastRead is the loop time of the last successful read. Loop only.
func (c *Conn) LastRead() int64 { return c.lastRead }

// Now is the poller's monotonic clock in nanoseconds.
func (c *Conn) Now() int64 { return c.loop.p.Now() }

// Buffered is the number of unconsumed input bytes held. Loop only.
func (c *Conn) Buffered() int {
	if c.leftover == nil {
		return 0
	}
	return len(c.leftover.B)
}

// SetTimer asks for OnTimer at the loop time at (0 cancels). Loop only.
func (c *Conn) SetTimer(at int64) {
	c.deadline = at
	c.loop.schedule(c)
}

// Timer returns the deadline set with SetTimer (0 if none). Loop only.
func (c *Conn) Timer() int64 { return c.deadline }

// SetSealer routes every later application write through w (a TLS
// connection), which hands the bytes to send back through WriteRaw. Call it
// on the loop before anything else can write to the connection.
func (c *Conn) SetSealer(w io.Writer) { c.sealer = &sealer{w: w} }

// Write queues a copy of b.
func (c *Conn) Write(b []byte) error {
	if c.sealer != nil {
		return c.seal(b, false)
	}
	return c.WriteRaw(b)
}

// WriteFinal queues a copy of b as the connection's last bytes (a close
// frame, a refusal): every later write fails with ErrClosed, and the two
// happen under one lock, so nothing a concurrent writer queues can follow b.
// The socket stays open for reading; CloseAfterFlush ends it.
func (c *Conn) WriteFinal(b []byte) error {
	if c.sealer != nil {
		return c.seal(b, true)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	buf, err := c.ownTail(len(b))
	if err != nil {
		return err
	}
	buf.B = append(buf.B, b...)
	c.final = true
	return nil
}

// WriteRaw queues a copy of b as it is, bypassing any sealer.
func (c *Conn) WriteRaw(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf, err := c.ownTail(len(b))
	if err != nil {
		return err
	}
	buf.B = append(buf.B, b...)
	return nil
}

// WriteMessage queues op and payload as one final, unmasked frame; the
// payload is copied, so the caller may reuse it at once.
func (c *Conn) WriteMessage(op codec.OpCode, payload []byte) error {
	if c.sealer != nil {
		b := c.loop.p.bufs.Get()
		b.B = codec.AppendHeader(b.B, op, true, len(payload))
		b.B = append(b.B, payload...)
		err := c.seal(b.B, false)
		c.loop.p.bufs.Put(b)
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	buf, err := c.ownTail(codec.FrameSize(len(payload)))
	if err != nil {
		return err
	}
	buf.B = codec.AppendHeader(buf.B, op, true, len(payload))
	buf.B = append(buf.B, payload...)
	return nil
}

// WriteFrame queues an encoded frame by reference. The bytes must not change
// afterwards: a broadcast queues the same frame to every subscriber.
func (c *Conn) WriteFrame(frame []byte) error {
	if len(frame) == 0 {
		return nil
	}
	if c.sealer != nil {
		return c.seal(frame, false)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.admit(len(frame)); err != nil {
		return err
	}
	c.q.segs = append(c.q.segs, seg{shared: frame})
	return nil
}

// Flush writes what is queued with one writev. It never blocks: what the
// socket does not take stays queued and goes out on EPOLLOUT.
func (c *Conn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushLocked()
	switch {
	case err != nil && err != ErrClosed:
		c.requestLocked(taskClose, err) // a write error: flushLocked closed the queue
	case err == nil && c.closeAfter && c.q == nil:
		c.requestLocked(taskEnd, nil)
	}
	return err
}

// FlushSoon asks the connection's loop to flush it, instead of writing on
// the caller's goroutine: a broadcast to many connections then costs the
// publisher a queue append per subscriber while the loops, one per core,
// make the write calls in parallel. A connection has at most one such
// request pending: a flood of publishes to a busy channel adds bytes to
// bounded queues, never tasks to the loop.
func (c *Conn) FlushSoon() {
	c.mu.Lock()
	if !c.closed && (c.q != nil || c.closeAfter) {
		c.requestLocked(taskFlush, nil)
	}
	c.mu.Unlock()
}

// CloseAfterFlush ends the connection gracefully once everything queued so
// far is written. With waitPeer, the write side is shut (FIN) and the socket
// closed when the peer closes too, or after the linger timeout: a peer that
// may still be sending then reads our last bytes instead of a reset. Without
// it the socket is closed as soon as the bytes are out (the peer is done, as
// after a completed close handshake). Later writes fail with ErrClosed.
func (c *Conn) CloseAfterFlush(waitPeer bool) {
	c.mu.Lock()
	c.final = true
	c.closeAfter = true
	c.noLinger = !waitPeer
	c.mu.Unlock()
	c.Flush()
}

// Close closes the connection at once, dropping what is queued; err is
// reported to OnClose. Only the first Close of a connection counts.
func (c *Conn) Close(err error) {
	c.mu.Lock()
	c.requestLocked(taskClose, err)
	c.mu.Unlock()
}

// requestLocked posts a task of kind for the connection to its loop, unless
// one of that kind is already pending: each connection has at most one task
// of each kind in its loop's list, so the list is bounded by the number of
// connections. c.mu held.
func (c *Conn) requestLocked(kind taskKind, err error) {
	bit := uint8(1) << kind
	if c.pending&bit != 0 {
		return
	}
	c.pending |= bit
	c.loop.post(task{kind: kind, c: c, err: err})
}

// done clears the pending mark of a task the loop is about to run.
func (c *Conn) done(kind taskKind) {
	c.mu.Lock()
	c.pending &^= uint8(1) << kind
	c.mu.Unlock()
}

// flushFromLoop flushes on the loop goroutine and acts on the result there.
func (c *Conn) flushFromLoop() {
	if c.loopClosed {
		return
	}
	c.mu.Lock()
	if c.closed || c.q == nil && !c.armed && !c.closeAfter {
		// Nothing to write, or a writer already closed it and posted the
		// close with its reason (slow consumer, write error).
		c.mu.Unlock()
		return
	}
	err := c.flushLocked()
	linger := err == nil && c.closeAfter && c.q == nil
	c.mu.Unlock()
	switch {
	case err != nil:
		c.loop.closeConn(c, err)
	case linger && !c.lingering:
		c.loop.linger(c)
	}
}
