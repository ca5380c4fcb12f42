package poller

import (
	"fmt"
	"net"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// uring is the epoll backend with its receive side on io_uring: each
// connection has one multishot receive that picks buffers from the loop's
// provided-buffer ring, so a loop round costs one io_uring_enter for every
// connection that received, instead of an epoll_wait plus a read each.
// Everything else is epoll's: the listener, the wake-up eventfd and
// EPOLLOUT of a blocked connection stay in the loop's epoll set, which the
// ring watches with one multishot poll; writes are writev from the writer's
// goroutine, as on epoll.
//
// The ring is single-issuer with deferred task work (completions are posted
// only when the loop enters the kernel to collect them), so the loop
// goroutine is locked to its thread.
type uring struct {
	*epoll
}

// user_data of the loop's requests: kind in the top byte; for receives the
// connection's generation and descriptor, so a completion for a closed
// connection never reaches the one that reuses its descriptor.
const (
	udRecv   = 1
	udEpoll  = 2
	udCancel = 3
)

func recvData(c *Conn) uint64 {
	return udRecv<<56 | uint64(c.gen())<<24 | uint64(uint32(c.fd)&0xFFFFFF)
}

// uringAvailable tells whether this kernel lets the process set up the
// rings the backend needs (io_uring may be missing, or disabled by
// kernel.io_uring_disabled or a seccomp policy).
func uringAvailable() bool {
	r, err := newRing()
	if err != nil {
		return false
	}
	r.close()
	return true
}

func newUring(p *Poller, ln net.Listener) (*uring, error) {
	e, err := newEpoll(p, ln)
	if err != nil {
		return nil, err
	}
	e.ring = true
	for _, l := range p.loops {
		if l.ring, err = newRing(); err != nil {
			e.stopAccepting()
			e.closeRings()
			e.close()
			return nil, err
		}
	}
	return &uring{e}, nil
}

func (e *epoll) closeRings() {
	for _, l := range e.p.loops {
		if l.ring != nil {
			l.ring.close()
			l.ring = nil
		}
	}
}

func (u *uring) close() {
	u.epoll.close()
	u.closeRings()
}

// yieldEvery bounds how long a busy loop keeps its P without letting other
// goroutines (workers, the admin server) run (yield.go): it asks whether
// any is waiting at most this often, and yields only if one is.
const yieldEvery = time.Millisecond

func (u *uring) run(l *loop) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := l.ring
	if err := r.enable(); err != nil {
		panic(err.Error()) // set up by newRing on this kernel: a bug
	}
	u.armEpoll(l)
	l.epollMore = true // anything that arrived before the poll was armed
	events := make([]unix.EpollEvent, 256)
	tick := u.p.cfg.Tick
	nextTick := u.p.Now() + int64(tick)
	lastYield := u.p.Now()
	y := newYielder()
	complete := func(cqe *iouCqe) { u.complete(l, cqe) }
	for {
		u.submitSends(l)
		if err := r.enter(false, 0); err != nil {
			panic(fmt.Sprintf("poller: io_uring_enter: %v", err)) // EBADF, EFAULT, EINVAL: a bug
		}
		if !r.ready() && !l.epollMore {
			wait := int64(tick)
			if l.acceptPaused {
				wait = max(int64(time.Millisecond), min(wait, l.acceptResume-u.p.Now()))
			}
			if err := r.enter(true, wait); err != nil {
				panic(fmt.Sprintf("poller: io_uring_enter: %v", err))
			}
		}
		l.now = u.p.Now()
		n := r.completions(complete)
		u.stalled(l)
		if l.epollMore {
			k, err := epollWait(l.epfd, events, 0)
			if err != nil && err != unix.EINTR {
				panic(fmt.Sprintf("poller: epoll_wait: %v", err))
			}
			// Level-triggered entries still ready after this round (the
			// listener past acceptBatch) may not wake the ring's poll
			// again: look once more next round, until nothing is left.
			l.epollMore = k > 0
			for i := 0; i < k; i++ {
				if u.event(l, &events[i], l.now) {
					u.finish(l)
					return
				}
			}
			n += k
		}
		now := l.now
		if l.acceptPaused && now >= l.acceptResume {
			u.resumeAccept(l)
		}
		if now >= nextTick {
			l.wheel.Advance(now, l.fire)
			nextTick = now + int64(tick)
		}
		if n > 0 && now-lastYield >= int64(yieldEvery) {
			y.yield()
			lastYield = u.p.Now()
		}
	}
}

// finish lets the sends still in flight at shutdown end (closing their
// connections cancelled them) before the loop goes, so no buffer the kernel
// may read is dropped while it could; bounded, as a peer cannot hold it.
func (u *uring) finish(l *loop) {
	deadline := u.p.Now() + int64(100*time.Millisecond)
	for len(l.sends.recs) > len(l.sends.free) && u.p.Now() < deadline {
		if err := l.ring.enter(true, int64(10*time.Millisecond)); err != nil {
			return
		}
		l.ring.completions(func(cqe *iouCqe) {
			if cqe.userData>>56 == udSend {
				u.completed(l, cqe)
			} else if cqe.userData>>56 == udRecv && cqe.flags&iouCqeFBuffer != 0 {
				l.ring.provide(uint16(cqe.flags >> iouCqeBufferShift))
			}
		})
	}
}

// complete handles one completion. Loop only.
func (u *uring) complete(l *loop, cqe *iouCqe) {
	switch cqe.userData >> 56 {
	case udRecv:
		u.received(l, cqe)
	case udSend:
		u.completed(l, cqe)
	case udEpoll:
		l.epollMore = true
		if cqe.flags&iouCqeFMore == 0 {
			u.armEpoll(l) // the multishot poll ended (it may, on overflow): arm it again
		}
	}
}

// received takes one receive completion: bytes in a provided buffer, the
// peer's FIN, or an error; the buffer goes back to the kernel afterwards.
func (u *uring) received(l *loop, cqe *iouCqe) {
	r := l.ring
	hasBuf := cqe.flags&iouCqeFBuffer != 0
	bid := uint16(cqe.flags >> iouCqeBufferShift)
	if hasBuf {
		defer r.provide(bid)
	}
	fd, gen := int(cqe.userData&0xFFFFFF), uint32(cqe.userData>>24)
	c := u.conn(fd)
	if c == nil || c.loop != l || c.gen() != gen || c.loopClosed {
		return // a completion left over from a closed connection
	}
	res := cqe.res
	switch {
	case res > 0 && c.lingering:
		// Closing: the answer is sent; discard input until the peer's FIN.
	case res > 0:
		l.feed(c, r.buf(bid)[:res:res], l.now)
	case res == 0:
		if c.lingering {
			l.closeConn(c, nil)
		} else {
			l.closeConn(c, ErrPeerClosed)
		}
		return
	case unix.Errno(-res) == unix.ENOBUFS:
		// Every buffer was in use: the bytes wait in the socket. The
		// receive ended; armed again below, it runs after this round has
		// given the buffers back.
	case unix.Errno(-res) == unix.ECANCELED:
	default:
		if c.lingering {
			l.closeConn(c, nil)
		} else {
			l.closeConn(c, fmt.Errorf("poller: read: %w", unix.Errno(-res)))
		}
		return
	}
	if cqe.flags&iouCqeFMore == 0 && !c.loopClosed {
		u.recv(l, c)
	}
}

// recv arms the connection's multishot receive. Loop only.
func (e *epoll) recv(l *loop, c *Conn) error {
	s, err := l.ring.sqe()
	if err != nil {
		return err
	}
	s.opcode = iouOpRecv
	s.flags = iouSqeBufferSelect
	s.ioprio = iouRecvMultishot
	s.fd = c.fd
	s.bufGroup = iouBufGroup
	s.userData = recvData(c)
	return nil
}

// armEpoll watches the loop's epoll set (listener, eventfd, EPOLLOUT) from
// the ring with a multishot poll. Loop only.
func (u *uring) armEpoll(l *loop) {
	s, err := l.ring.sqe()
	if err != nil {
		panic(err.Error()) // the ring was just drained: a bug
	}
	s.opcode = iouOpPollAdd
	s.fd = int32(l.epfd)
	s.opFlags = unix.POLLIN
	s.len = iouPollAddMulti
	s.userData = udEpoll << 56
}

// closeSocket cancels the connection's receive (the ring holds the socket
// open until it ends, so its completions are told apart by generation) and
// closes the descriptor. Loop only.
func (u *uring) closeSocket(c *Conn) {
	u.conns[c.fd].Store(nil)
	if c.armed {
		_ = rawEpollCtl(c.loop.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	}
	if c.sending {
		u.cancelSend(c.loop, c)
	}
	if s, err := c.loop.ring.sqe(); err == nil {
		s.opcode = iouOpAsyncCancel
		s.addr = recvData(c)
		s.userData = udCancel << 56
	} else {
		// No room to cancel: end the receive from the socket's side.
		rawShutdown(int(c.fd), unix.SHUT_RDWR)
	}
	rawClose(int(c.fd))
}

func newUringDriver(p *Poller, ln net.Listener) (driver, error) {
	u, err := newUring(p, ln)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// The handover primitives are epoll's (handover.go): a connection with a
// multishot receive armed in the ring cannot be detached yet, so uring
// refuses them rather than inherit epoll's.
func (u *uring) detach(*Conn) error         { return ErrNoHandover }
func (u *uring) attach(*Conn) error         { return ErrNoHandover }
func (u *uring) install(*Conn) error        { return ErrNoHandover }
func (u *uring) listenerFD() (int, error)   { return -1, ErrNoHandover }
func (u *uring) setAccepting(on bool) error { return ErrNoHandover }
