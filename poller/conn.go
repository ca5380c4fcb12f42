package poller

import (
	"net/netip"
	"sync"
	"unsafe"

	"github.com/wsedge/wsedge/timerwheel"
)

// Conn is one accepted connection. Methods marked "loop only" may be called
// only from Handler callbacks; the write methods are safe from any goroutine.
//
// 96 bytes: the field order keeps the small fields together so no
// padding grows it, and its times are 32-bit stamps (clock.go); the
// handler's state follows it in the same allocation (state.go), and
// unconsumed input, which few connections have at a time, lives in the
// loop's table.
type Conn struct {
	// timer is the first field: connOf maps an entry back to its Conn. Its
	// value is the connection's generation (epoll, uring: tells this
	// connection's events from an earlier one's on fd), kept in what would
	// be the entry's padding.
	timer timerwheel.Entry[uint32]
	loop  *loop // the handler's state follows the Conn in its allocation (state.go)

	// Loop-owned state: touched only by the loop goroutine. (Unconsumed
	// input, rare, is in the loop's table: loop.held.)
	lastRead Stamp // the last successful read
	deadline Stamp // the owner's timer (SetTimer); 0: none
	fd       int32 // epoll, uring: the socket; std: -1

	raddr      [16]byte // the peer, kept unpacked (IPv4 as mapped): netip.AddrPort would cost 12 more bytes
	rport      uint16
	loopClosed bool
	lingering  bool

	// Write state, guarded by mu.
	closed     bool
	armed      bool  // epoll: EPOLLOUT is registered; std: the writer goroutine runs
	final      bool  // the last bytes are queued: later writes fail with ErrClosed
	closeAfter bool  // end the connection once the queue drains
	noLinger   bool  // with closeAfter: close at once instead of waiting for the peer's FIN
	pending    uint8 // bit 1<<kind: a task of that kind is in the loop's list
	detach     uint8 // attached, or exported/parked for a handover (handover.go)
	sending    bool  // uring: the ring is sending the head of the queue
	mu         sync.Mutex
	q          *outQueue // nil while nothing is queued
}

// connOf returns the Conn whose timer is e. The entry is the Conn's first
// field, so the two share an address; storing a back pointer instead would
// cost every connection 8 bytes.
func connOf(e *timerwheel.Entry[uint32]) *Conn { return (*Conn)(unsafe.Pointer(e)) }

// std is the std backend's part of c (c.fd is -1 there, and only there).
func (c *Conn) std() *stdConn { return c.loop.p.lay.std(c) }

// isStd reports whether c belongs to the std backend.
func (c *Conn) isStd() bool { return c.fd < 0 }

// gen is the connection's generation on its fd (epoll, uring).
func (c *Conn) gen() uint32 { return c.timer.Value }

// The compiler checks that the timer stays the first field.
var _ = [1]struct{}{}[unsafe.Offsetof(Conn{}.timer)]

// RemoteAddr is the TCP peer's address, or the one given to AttributeTo.
// An IPv4 peer reached through an IPv6 socket (::ffff:a.b.c.d) is the IPv4
// address it is, so per-IP limits and logs see one address per client.
func (c *Conn) RemoteAddr() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(c.raddr).Unmap(), c.rport)
}

func (c *Conn) setRemote(ap netip.AddrPort) {
	c.raddr, c.rport = ap.Addr().As16(), ap.Port()
}

// AttributeTo makes ip the address RemoteAddr reports from now on (the
// port stays): the client a trusted proxy named, so that the owner keeps one
// address per connection rather than a copy of its own. A handover exports
// it as the connection's remote. Loop only, before other goroutines read
// RemoteAddr.
func (c *Conn) AttributeTo(ip netip.Addr) { c.raddr = ip.As16() }

// LoopID is the index of the loop that owns the connection, so handlers can
// keep per-loop state without locks.
func (c *Conn) LoopID() int { return c.loop.id }

// Handler is the Handler of the poller the connection belongs to: an owner
// that serves many pollers' connections, or wants its own state back without
// a pointer in every connection, finds it here.
func (c *Conn) Handler() Handler { return c.loop.p.h }

// Do runs fn on the connection's loop goroutine (at once is never: it is
// queued, and runs even if the connection has closed meanwhile). Callers
// bound their own use: the loop's task list holds what they post.
func (c *Conn) Do(fn func()) { c.loop.post(task{kind: taskFunc, fn: fn}) }

// Closed reports whether the loop has closed the socket. Loop only.
func (c *Conn) Closed() bool { return c.loopClosed }

// Fd is the socket's descriptor with the epoll backend, -1 with std (for
// logs and tests).
func (c *Conn) Fd() int { return int(c.fd) }

// LastRead is the loop time of the last successful read, to a Stamp's unit
// (about a millisecond). Loop only.
func (c *Conn) LastRead() int64 { return c.lastRead.Before(c.loop.p.Now()) }

// Now is the poller's monotonic clock in nanoseconds.
func (c *Conn) Now() int64 { return c.loop.p.Now() }

// Buffered is the number of unconsumed input bytes held. Loop only.
func (c *Conn) Buffered() int {
	if lo := c.loop.leftover(c); lo != nil {
		return len(lo.B)
	}
	return 0
}

// Redeliver hands the connection's unconsumed input to OnData again, now,
// without a read: for a handler that left input unconsumed while it waited
// for something off the loop (an identity check) and can take it now. The
// time of the last read does not change. Loop only; not from within OnData.
func (c *Conn) Redeliver() {
	l := c.loop
	lo := l.leftover(c)
	if c.loopClosed || lo == nil || len(lo.B) == 0 {
		return
	}
	if n := len(lo.B); n <= len(l.buf) {
		// As a read would: the held bytes go through the loop's buffer,
		// and only what stays unconsumed is kept.
		l.deliver(c, l.buf[:copy(l.buf, lo.B)], false, c.LastRead())
		return
	}
	l.deliver(c, lo.B, true, c.LastRead())
}

// SetTimer asks for OnTimer at the loop time at (0 cancels), or at
// MaxTimer from now if at is later. It keeps at to a Stamp's unit (about a
// millisecond), rounded up: OnTimer never comes early. Loop only.
func (c *Conn) SetTimer(at int64) {
	c.setDeadline(at, c.loop.p.Now())
	c.loop.schedule(c)
}

// SetTimerBefore moves the timer to at if there is none or it is later, to
// a Stamp's unit: asked again for the same at (a read that finds the same
// partial frame held), it leaves the wheel alone. Loop only.
func (c *Conn) SetTimerBefore(at int64) {
	d := timerStamp(at, c.loop.p.Now())
	if c.deadline != 0 && int32(d-c.deadline) >= 0 {
		return
	}
	c.deadline = d
	c.loop.schedule(c)
}

func (c *Conn) setDeadline(at, now int64) {
	if at == 0 {
		c.deadline = 0
		return
	}
	c.deadline = timerStamp(at, now)
}

// timerAt is the deadline as a loop time near now; 0 if none.
func (c *Conn) timerAt(now int64) int64 {
	if c.deadline == 0 {
		return 0
	}
	return c.deadline.Near(now)
}
