package poller

import (
	"unsafe"

	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"
)

// maxIov bounds the segments handed to one writev (the kernel allows 1024;
// 64 keeps the iovec array on the stack and is plenty for one flush).
const maxIov = 64

// seg is one queued piece: either bytes the connection owns (a pooled
// buffer, returned once written) or a shared frame held by reference.
type seg struct {
	buf    *bytebufferpool.ByteBuffer
	shared []byte
	off    int
}

func (s *seg) data() []byte {
	if s.buf != nil {
		return s.buf.B[s.off:]
	}
	return s.shared[s.off:]
}

// outQueue exists only while a connection has something queued, so an idle
// connection holds neither it nor any buffer.
type outQueue struct {
	segs         []seg
	blockedSince int64 // when the socket last refused bytes (0: not blocked)
}

// admit checks the queue bound for n more bytes and makes sure a queue
// exists. c.mu held.
func (c *Conn) admit(n int) error {
	if c.closed || c.final {
		return ErrClosed
	}
	p := c.loop.p
	over := func() bool {
		// Past 1 GiB a queue is a slow consumer even with no bound configured.
		max := p.cfg.WriteQueue
		return max > 0 && int(c.queued)+n > max || int(c.queued)+n > 1<<30
	}
	if over() && c.q != nil {
		// Only what the socket cannot take counts against the bound: a
		// burst queued for a later flush may still fit in the kernel.
		if err := c.flushLocked(); err != nil {
			c.requestLocked(taskClose, err)
			return err
		}
	}
	if over() {
		c.closed = true
		c.releaseQueue()
		c.requestLocked(taskClose, ErrSlowConsumer)
		return ErrSlowConsumer
	}
	if c.q == nil {
		c.q = p.queues.Get().(*outQueue)
	}
	c.queued += int32(n)
	return nil
}

// ownTail returns an owned buffer at the end of the queue with room for n
// more bytes, so consecutive small frames share one buffer and one iovec.
// c.mu held.
func (c *Conn) ownTail(n int) (*bytebufferpool.ByteBuffer, error) {
	if err := c.admit(n); err != nil {
		return nil, err
	}
	if k := len(c.q.segs); k > 0 && c.q.segs[k-1].buf != nil {
		return c.q.segs[k-1].buf, nil
	}
	b := c.loop.p.bufs.Get()
	c.q.segs = append(c.q.segs, seg{buf: b})
	return b, nil
}

// releaseQueue drops whatever is queued. c.mu held.
func (c *Conn) releaseQueue() {
	if c.q == nil {
		return
	}
	p := c.loop.p
	for i := range c.q.segs {
		if b := c.q.segs[i].buf; b != nil {
			p.bufs.Put(b)
		}
		c.q.segs[i] = seg{}
	}
	c.q.segs = c.q.segs[:0]
	c.q.blockedSince = 0
	p.queues.Put(c.q)
	c.q = nil
	c.queued = 0
}

// flushLocked writes the queue until it is empty or the socket is full.
// c.mu held.
func (c *Conn) flushLocked() error {
	if c.closed {
		return ErrClosed
	}
	for c.q != nil && len(c.q.segs) > 0 {
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
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				return c.blocked()
			}
			c.closed = true
			c.releaseQueue()
			return err
		}
		c.consume(n)
	}
	if c.q != nil {
		c.releaseQueue()
	}
	if c.armed {
		c.armed = false
		_ = unix.EpollCtl(c.loop.epfd, unix.EPOLL_CTL_MOD, int(c.fd), c.event(unix.EPOLLIN|unix.EPOLLRDHUP))
	}
	return nil
}

// blocked registers interest in writability and starts the write-timeout
// clock. c.mu held.
func (c *Conn) blocked() error {
	if !c.armed {
		c.armed = true
		if err := unix.EpollCtl(c.loop.epfd, unix.EPOLL_CTL_MOD, int(c.fd), c.event(unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP)); err != nil {
			return err
		}
	}
	if c.q.blockedSince == 0 {
		c.q.blockedSince = c.loop.p.Now()
		if c.loop.p.cfg.WriteTimeout > 0 {
			// Rare path: let the loop pull the connection's timer in.
			c.requestLocked(taskRetime, nil)
		}
	}
	return nil
}

// consume drops n written bytes from the head of the queue. c.mu held.
func (c *Conn) consume(n int) {
	c.queued -= int32(n)
	if n > 0 {
		c.q.blockedSince = 0 // progress: the write timeout counts from the next stall
	}
	p := c.loop.p
	i := 0
	for ; i < len(c.q.segs) && n > 0; i++ {
		s := &c.q.segs[i]
		d := len(s.data())
		if n < d {
			s.off += n
			break
		}
		n -= d
		if s.buf != nil {
			p.bufs.Put(s.buf)
		}
		*s = seg{}
	}
	if i > 0 {
		rest := copy(c.q.segs, c.q.segs[i:])
		clear(c.q.segs[rest:])
		c.q.segs = c.q.segs[:rest]
	}
}

func writev(fd int, iov []unix.Iovec) (int, error) {
	n, _, errno := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(iov))), uintptr(len(iov)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// linger half-closes a connection whose last bytes are written and closes it
// when the peer's FIN arrives or the linger timeout passes. Loop only.
func (l *loop) linger(c *Conn) {
	if c.loopClosed || c.lingering {
		return
	}
	c.mu.Lock()
	now := c.noLinger
	c.mu.Unlock()
	if now {
		l.closeConn(c, nil)
		return
	}
	c.lingering = true
	_ = unix.Shutdown(int(c.fd), unix.SHUT_WR)
	l.dropLeftover(c)
	c.deadline = l.p.Now() + int64(l.p.cfg.LingerTimeout)
	l.schedule(c)
}
