package poller

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"github.com/wsedge/wsedge/timerwheel"
)

type taskKind uint8

// Connection tasks (close, flush, retime, end) are posted at most once per
// connection at a time (Conn.requestLocked); the others come from Do, Each,
// Timers and Stop.
const (
	taskClose  taskKind = iota // close now with err
	taskFlush                  // FlushSoon
	taskRetime                 // the write-timeout clock started: pull the timer in
	taskEnd                    // the final bytes are out: close or linger
	taskFunc
	taskStop
)

// task is work posted to a loop from another goroutine.
type task struct {
	kind taskKind
	c    *Conn
	err  error
	fn   func()
}

type loop struct {
	p     *Poller
	id    int
	epfd  int
	efd   int
	buf   []byte
	wheel *timerwheel.Wheel[struct{}]
	count atomic.Int64

	mu      sync.Mutex
	tasks   []task
	spare   []task
	woken   atomic.Bool
	stopped bool

	leftovers bytebufferpool.Pool

	// Accepting, paused after the process ran out of descriptors (loop only).
	acceptPaused  bool
	acceptResume  int64         // loop time to watch the listener again
	acceptBackoff time.Duration // the last pause; doubles while accepts keep failing
}

func newLoop(p *Poller, id int) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("poller: epoll_create: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("poller: eventfd: %w", err)
	}
	l := &loop{p: p, id: id, epfd: epfd, efd: efd, buf: make([]byte, p.cfg.ReadBuffer)}
	l.wheel = timerwheel.New[struct{}](p.cfg.Tick, p.Now())
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("poller: watch eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, p.lnFd, listenerEvent(p.lnFd)); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("poller: watch listener: %w", err)
	}
	return l, nil
}

func (l *loop) closeFds() {
	if l.epfd >= 0 {
		unix.Close(l.epfd)
		l.epfd = -1
	}
	if l.efd >= 0 {
		unix.Close(l.efd)
		l.efd = -1
	}
}

// post queues a task for the loop and wakes it. Safe from any goroutine.
func (l *loop) post(t task) {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		if t.fn != nil {
			t.fn() // the loop is gone; Each must still return
		}
		return
	}
	l.tasks = append(l.tasks, t)
	l.mu.Unlock()
	if l.woken.CompareAndSwap(false, true) {
		var one = [8]byte{1}
		_, _ = unix.Write(l.efd, one[:])
	}
}

func (l *loop) run() {
	events := make([]unix.EpollEvent, 256)
	tick := l.p.cfg.Tick
	timeoutMs := int(tick / time.Millisecond)
	if timeoutMs < 1 {
		timeoutMs = 1
	}
	nextTick := l.p.Now() + int64(tick)
	for {
		// Under load there is almost always something ready: ask without
		// blocking first, so the loop keeps its P and the runtime does not
		// hand it off (a futex wake and a thread switch per round); block,
		// as a proper syscall, only when nothing is ready.
		n, err := epollWait(l.epfd, events, 0)
		if n == 0 && err == nil {
			wait := timeoutMs
			if l.acceptPaused {
				wait = max(1, min(wait, int((l.acceptResume-l.p.Now())/int64(time.Millisecond))))
			}
			n, err = unix.EpollWait(l.epfd, events, wait)
		}
		if err != nil && err != unix.EINTR {
			panic(fmt.Sprintf("poller: epoll_wait: %v", err)) // only EBADF/EFAULT/EINVAL: a bug
		}
		now := l.p.Now()
		for i := 0; i < n; i++ {
			if l.event(&events[i], now) {
				return
			}
		}
		if l.acceptPaused && now >= l.acceptResume {
			l.resumeAccept()
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
func (l *loop) event(ev *unix.EpollEvent, now int64) bool {
	fd := int(ev.Fd)
	switch {
	case fd == l.efd:
		return l.runTasks(now)
	case fd == l.p.lnFd:
		l.accept(now)
		return false
	}
	// The event may be stale: its connection may have been closed earlier
	// in this batch (by a posted task), and its descriptor number reused
	// since by an accept, on this loop or another. The generation in the
	// event data tells the connection it was registered for.
	c := l.p.conn(fd)
	if c == nil || c.loop != l || c.gen != uint32(ev.Pad) {
		return false
	}
	if ev.Events&unix.EPOLLOUT != 0 {
		c.flushFromLoop()
	}
	if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0 && !c.loopClosed {
		l.read(c, now)
	}
	return false
}

// runTasks drains posted tasks; it reports true when the loop must exit.
func (l *loop) runTasks(now int64) bool {
	var b [8]byte
	_, _ = unix.Read(l.efd, b[:])
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
	for i := range l.p.conns {
		if c := l.p.conns[i].Load(); c != nil && c.loop == l {
			l.closeConn(c, ErrShutdown)
		}
	}
	l.mu.Lock()
	l.stopped = true
	rest := l.tasks
	l.tasks = nil
	l.mu.Unlock()
	for _, t := range rest {
		if t.fn != nil {
			t.fn()
		}
	}
}

func (l *loop) read(c *Conn, now int64) {
	var data []byte
	var n int
	var err error
	fd := int(c.fd)
	if c.lingering {
		// Closing: the answer is sent; discard input until the peer's FIN.
		n, err = rawRead(fd, l.buf)
		if n == 0 && err == nil || err != nil && err != unix.EAGAIN && err != unix.EINTR {
			l.closeConn(c, nil)
		}
		return
	}
	left, own := 0, false
	if c.leftover != nil {
		left = len(c.leftover.B)
	}
	switch {
	case left == 0:
		n, err = rawRead(fd, l.buf)
		if n > 0 {
			data = l.buf[:n]
		}
	case left < len(l.buf):
		copy(l.buf, c.leftover.B)
		n, err = rawRead(fd, l.buf[left:])
		if n > 0 {
			data = l.buf[:left+n]
		}
	default:
		// Unconsumed input of a loop buffer or more (a big frame under
		// way): read straight into the connection's own buffer, grown
		// with what has arrived, never with what a frame header announced.
		b := l.grow(c.leftover.B)
		n, err = rawRead(fd, b[left:cap(b)])
		if n > 0 {
			data = b[:left+n]
			own = true
		}
		c.leftover.B = b[:left]
	}
	if n == 0 && err == nil {
		l.closeConn(c, ErrPeerClosed)
		return
	}
	if err != nil {
		if err == unix.EAGAIN || err == unix.EINTR {
			return
		}
		l.closeConn(c, fmt.Errorf("poller: read: %w", err))
		return
	}
	c.lastRead = now
	consumed, herr := l.p.h.OnData(c, data)
	if c.loopClosed {
		return
	}
	if herr != nil {
		l.closeConn(c, herr)
		return
	}
	l.keep(c, data[consumed:], own)
	c.flushFromLoop()
}

// grow makes room in a connection's input buffer b for at least a loop
// buffer's worth of new bytes: its capacity stays within what it holds plus
// a quarter of that or one loop buffer, whichever is more, so a buffer never
// holds much more than the peer sent and copying stays linear.
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
	switch {
	case len(rest) == 0:
		l.dropLeftover(c)
	case own && len(rest) >= len(l.buf):
		// Still a big frame under way: shift its tail down in place.
		c.leftover.B = c.leftover.B[:copy(c.leftover.B[:cap(c.leftover.B)], rest)]
	default:
		if own {
			// A big buffer with a small tail left: give the big one back
			// to the collector, keep the tail in a pooled one.
			big := c.leftover
			c.leftover = l.leftovers.Get()
			c.leftover.B = append(c.leftover.B[:0], rest...)
			big.B = nil
			l.leftovers.Put(big)
			return
		}
		if c.leftover == nil {
			c.leftover = l.leftovers.Get()
		}
		c.leftover.B = append(c.leftover.B[:0], rest...)
	}
}

// dropLeftover returns the connection's input buffer, if any. Buffers grown
// past a loop buffer are left to the collector rather than pooled.
func (l *loop) dropLeftover(c *Conn) {
	if c.leftover == nil {
		return
	}
	if cap(c.leftover.B) > len(l.buf) {
		c.leftover.B = nil
	}
	l.leftovers.Put(c.leftover)
	c.leftover = nil
}

// fire runs for every wheel entry that came due.
func (l *loop) fire(e *timerwheel.Entry[struct{}]) {
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
	if c.deadline != 0 && now >= c.deadline {
		c.deadline = 0
		l.p.h.OnTimer(c, now)
		if c.loopClosed {
			return
		}
		c.flushFromLoop()
	}
	l.schedule(c)
}

// schedule arms the connection's wheel entry at its earliest deadline.
func (l *loop) schedule(c *Conn) {
	at := c.deadline
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

// blockedSince is when the connection's queue stopped draining (0: it is
// not blocked).
func (c *Conn) blockedSince() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.q == nil {
		return 0
	}
	return c.q.blockedSince
}

// closeConn closes the socket and forgets the connection. Loop goroutine only.
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
	l.p.conns[c.fd].Store(nil)
	l.count.Add(-1)
	unix.Close(int(c.fd)) // also removes it from the epoll set
	l.p.h.OnClose(c, err)
}
