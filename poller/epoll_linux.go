package poller

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// backends: epoll is the default on Linux; uring where the kernel allows it.
var backends = func() []string {
	if uringAvailable() {
		return []string{"epoll", "std", "uring"}
	}
	return []string{"epoll", "std"}
}()

// epoll drives non-blocking sockets from one epoll instance per loop. The
// listener is in every loop's set (EPOLLEXCLUSIVE): the loop that accepts a
// connection owns it for its whole life.
type epoll struct {
	p      *Poller
	lnFile *os.File // nil once accepting stopped
	lnFd   int

	// conns maps a descriptor to its connection, for every loop: one slot
	// per possible descriptor (sized by the open-files limit), 8 bytes per
	// descriptor whatever the number of loops. A loop writes only the slots
	// of its own connections.
	conns []atomic.Pointer[Conn]
	gens  atomic.Uint32 // last connection generation handed out

	nodelay   bool       // the listener has TCP_NODELAY, which accepted sockets inherit
	acceptMu  sync.Mutex // one accept at a time; guards reserveFd
	reserveFd int        // a descriptor held back for answering overflow (-1: none)

	// ring: the uring backend receives through io_uring; connections are
	// in the epoll set only while EPOLLOUT is armed.
	ring bool
}

func newEpoll(p *Poller, ln net.Listener) (*epoll, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, fmt.Errorf("poller: epoll serves TCP listeners, not %T", ln)
	}
	// Take the socket out of the Go runtime's netpoller: File dups the
	// descriptor, and closing the listener leaves our dup the only one.
	f, err := tl.File()
	ln.Close()
	if err != nil {
		return nil, fmt.Errorf("poller: listener fd: %w", err)
	}
	e := &epoll{p: p, lnFile: f, lnFd: int(f.Fd()), reserveFd: -1}
	e.conns = make([]atomic.Pointer[Conn], fdTableSize())
	if err := unix.SetNonblock(e.lnFd, true); err != nil {
		f.Close()
		return nil, fmt.Errorf("poller: nonblock listener: %w", err)
	}
	// Accepted sockets inherit TCP_NODELAY from the listener on Linux: one
	// setsockopt here instead of one per connection (accept falls back to
	// one per connection if the listener refuses it).
	e.nodelay = unix.SetsockoptInt(e.lnFd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) == nil
	for _, l := range p.loops {
		if err := e.initLoop(l); err != nil {
			e.close()
			f.Close()
			return nil, err
		}
	}
	e.reserveFd = openReserve()
	return e, nil
}

func (e *epoll) initLoop(l *loop) error {
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("poller: epoll_create: %w", err)
	}
	if l.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fmt.Errorf("poller: eventfd: %w", err)
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, l.efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.efd)}); err != nil {
		return fmt.Errorf("poller: watch eventfd: %w", err)
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, e.lnFd, listenerEvent(e.lnFd)); err != nil {
		return fmt.Errorf("poller: watch listener: %w", err)
	}
	return nil
}

// fdTableSize is the open-files limit, which bounds every descriptor number,
// within [1024, 1<<22] (the table costs RSS only for descriptors in use:
// its untouched pages stay untouched).
func fdTableSize() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 1 << 16
	}
	return int(min(max(lim.Cur, 1024), 1<<22))
}

// nextGen numbers a new connection (never 0, so a zeroed event matches none).
func (e *epoll) nextGen() uint32 {
	for {
		if g := e.gens.Add(1); g != 0 {
			return g
		}
	}
}

func (e *epoll) conn(fd int) *Conn {
	if fd < 0 || fd >= len(e.conns) {
		return nil
	}
	return e.conns[fd].Load()
}

// event is the epoll registration of a connection: its descriptor and
// generation travel in the event data.
func (c *Conn) event(events uint32) *unix.EpollEvent {
	return &unix.EpollEvent{Events: events, Fd: c.fd, Pad: int32(c.gen())}
}

func (e *epoll) wake(l *loop) {
	one := [8]byte{1}
	_, _ = unix.Write(l.efd, one[:])
}

func (e *epoll) run(l *loop) {
	events := make([]unix.EpollEvent, 256)
	tick := e.p.cfg.Tick
	timeoutMs := max(int(tick/time.Millisecond), 1)
	nextTick := e.p.Now() + int64(tick)
	for {
		// Under load there is almost always something ready: ask without
		// blocking first, so the loop keeps its P and the runtime does not
		// hand it off (a futex wake and a thread switch per round); block,
		// as a proper syscall, only when nothing is ready.
		n, err := epollWait(l.epfd, events, 0)
		if n == 0 && err == nil {
			wait := timeoutMs
			if l.acceptPaused {
				wait = max(1, min(wait, int((l.acceptResume-e.p.Now())/int64(time.Millisecond))))
			}
			n, err = unix.EpollWait(l.epfd, events, wait)
		}
		if err != nil && err != unix.EINTR {
			panic(fmt.Sprintf("poller: epoll_wait: %v", err)) // only EBADF/EFAULT/EINVAL: a bug
		}
		now := e.p.Now()
		for i := 0; i < n; i++ {
			if e.event(l, &events[i], now) {
				return
			}
		}
		if l.acceptPaused && now >= l.acceptResume {
			e.resumeAccept(l)
		}
		if now >= nextTick {
			l.wheel.Advance(now, l.fire)
			nextTick = now + int64(tick)
		}
		if n > 0 {
			// A busy loop never blocks, so it would keep its P until the
			// runtime preempts it (10 ms): let the workers it just woke, and
			// anything else runnable, run between rounds.
			runtime.Gosched()
		}
	}
}

// event handles one epoll event; it reports true when the loop must exit.
func (e *epoll) event(l *loop, ev *unix.EpollEvent, now int64) bool {
	fd := int(ev.Fd)
	switch {
	case fd == l.efd:
		var b [8]byte
		_, _ = unix.Read(l.efd, b[:])
		return l.runTasks()
	case fd == e.lnFd:
		e.accept(l, now)
		return false
	}
	// The event may be stale: its connection may have been closed earlier
	// in this batch (by a posted task), and its descriptor number reused
	// since by an accept, on this loop or another. The generation in the
	// event data tells the connection it was registered for.
	c := e.conn(fd)
	if c == nil || c.loop != l || c.gen() != uint32(ev.Pad) {
		return false
	}
	if e.ring {
		// Only EPOLLOUT is registered (errors come with it): the ring
		// receives, and a read here could overtake its completions.
		c.flushFromLoop()
		return false
	}
	if ev.Events&unix.EPOLLOUT != 0 {
		c.flushFromLoop()
	}
	if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0 && !c.loopClosed {
		e.read(l, c, now)
	}
	return false
}

// read takes what the socket has into the loop buffer (after the
// connection's leftover, if it fits) or into the connection's own buffer.
func (e *epoll) read(l *loop, c *Conn, now int64) {
	fd := int(c.fd)
	if c.lingering {
		// Closing: the answer is sent; discard input until the peer's FIN.
		n, err := rawRead(fd, l.buf)
		if n == 0 && err == nil || err != nil && err != unix.EAGAIN && err != unix.EINTR {
			l.closeConn(c, nil)
		}
		return
	}
	var data []byte
	var n int
	var err error
	left, own := 0, false
	lo := l.leftover(c)
	if lo != nil {
		left = len(lo.B)
	}
	switch {
	case left == 0:
		n, err = rawRead(fd, l.buf)
		data = l.buf[:max(n, 0)]
	case left < len(l.buf):
		copy(l.buf, lo.B)
		n, err = rawRead(fd, l.buf[left:])
		data = l.buf[:left+max(n, 0)]
	default:
		// Unconsumed input of a loop buffer or more (a big frame under
		// way): read straight into the connection's own buffer, grown
		// with what has arrived, never with what a frame header announced.
		b := l.grow(lo.B)
		n, err = rawRead(fd, b[left:cap(b)])
		data, own = b[:left+max(n, 0)], true
		lo.B = b[:left]
	}
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
	case err != nil:
		l.closeConn(c, fmt.Errorf("poller: read: %w", err))
	case n == 0:
		l.closeConn(c, ErrPeerClosed)
	default:
		l.deliver(c, data, own, now)
	}
}

// maxIov bounds the segments handed to one writev (the kernel allows 1024;
// 64 keeps the iovec array on the stack and is plenty for one flush).
const maxIov = 64

// write writes the queue until it is empty or the socket is full. c.mu held.
func (e *epoll) write(c *Conn) error {
	for c.q != nil {
		var iov [maxIov]unix.Iovec
		k := 0
		for ; k < len(c.q.segs) && k < maxIov; k++ {
			d := c.q.segs[k].data()
			iov[k].Base = unsafe.SliceData(d)
			iov[k].SetLen(len(d))
		}
		var n int
		var err error
		if k == 1 {
			n, err = rawWrite(int(c.fd), c.q.segs[0].data())
		} else {
			n, err = writev(int(c.fd), iov[:k])
		}
		switch err {
		case nil:
			c.consume(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return e.blocked(c)
		default:
			c.closed = true
			c.releaseQueue()
			return err
		}
	}
	if c.armed {
		c.armed = false
		if e.ring {
			_ = rawEpollCtl(c.loop.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
		} else {
			_ = rawEpollCtl(c.loop.epfd, unix.EPOLL_CTL_MOD, int(c.fd), c.event(unix.EPOLLIN|unix.EPOLLRDHUP))
		}
	}
	return nil
}

func (e *epoll) writeRound(c *Conn) error { return e.write(c) }

// direct: a loop's answer goes straight to the socket (Send2).
func (e *epoll) direct() bool { return !e.ring }

// blocked registers interest in writability and starts the write-timeout
// clock. c.mu held.
func (e *epoll) blocked(c *Conn) error {
	if !c.armed {
		c.armed = true
		op, ev := unix.EPOLL_CTL_MOD, c.event(unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP)
		if e.ring {
			op, ev = unix.EPOLL_CTL_ADD, c.event(unix.EPOLLOUT)
		}
		if err := rawEpollCtl(c.loop.epfd, op, int(c.fd), ev); err != nil {
			return err
		}
	}
	if c.q.blockedSince == 0 {
		c.q.blockedSince = e.p.Now()
		if e.p.cfg.WriteTimeout > 0 {
			// Rare path: let the loop pull the connection's timer in.
			c.requestLocked(taskRetime, nil)
		}
	}
	return nil
}

func (e *epoll) shutdownWrite(c *Conn) { rawShutdown(int(c.fd), unix.SHUT_WR) }

func (e *epoll) closeSocket(c *Conn) {
	e.conns[c.fd].Store(nil)
	rawClose(int(c.fd)) // also removes it from the epoll set
}

func (e *epoll) each(l *loop, fn func(*Conn)) {
	for i := range e.conns {
		if c := e.conns[i].Load(); c != nil && c.loop == l {
			fn(c)
		}
	}
}

// stopAccepting closes the listener. p.closeMu held.
func (e *epoll) stopAccepting() {
	if e.lnFile == nil {
		return
	}
	for _, l := range e.p.loops {
		// Deregister explicitly: the descriptor is watched by every loop
		// (not found in a loop that paused accepting: fine).
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, e.lnFd, nil)
	}
	e.lnFile.Close()
	e.lnFile = nil
}

func (e *epoll) close() {
	for _, l := range e.p.loops {
		if l.epfd >= 0 {
			unix.Close(l.epfd)
			l.epfd = -1
		}
		if l.efd >= 0 {
			unix.Close(l.efd)
			l.efd = -1
		}
	}
	e.acceptMu.Lock()
	if e.reserveFd >= 0 {
		unix.Close(e.reserveFd)
		e.reserveFd = -1
	}
	e.acceptMu.Unlock()
}
