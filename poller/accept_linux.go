package poller

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// acceptBatch bounds the accepts done per wakeup so that a connection flood
// cannot starve the reads of established connections on the same loop.
const acceptBatch = 64

func (e *epoll) accept(l *loop, now int64) {
	p := l.p
	for i := 0; i < acceptBatch; i++ {
		// One loop accepts at a time (the kernel serialises accepts on the
		// listener anyway), so that no loop takes the descriptor another
		// one freed from the reserve to answer a client with.
		e.acceptMu.Lock()
		fd, peer, err := accept(e.lnFd)
		switch err {
		case nil:
			kept := e.reserveFd >= 0 || e.restoreReserve(fd, l.buf)
			e.acceptMu.Unlock()
			if !kept {
				continue // answered and closed: its descriptor is the reserve now
			}
		case unix.EAGAIN:
			e.acceptMu.Unlock()
			return // another loop took it, or nothing left
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Out of descriptors or kernel memory: answer what waits with
			// the reserved descriptor, then stop watching the listener.
			e.overflow(l.buf)
			e.acceptMu.Unlock()
			p.acceptFailed(err)
			e.pauseAccept(l, now)
			return
		default:
			// The connection failed before we took it (ECONNABORTED,
			// network errors the kernel passes on): try the next one.
			e.acceptMu.Unlock()
			p.acceptFailed(err)
			continue
		}
		l.acceptBackoff = 0
		if !e.nodelay {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
		c := l.fresh.Get(int(l.count.Load()))
		c.fd, c.loop, c.lastRead = int32(fd), l, StampOf(now)
		c.timer.Value = e.nextGen()
		c.setRemote(peer)
		if fd >= len(e.conns) {
			// Only if the open-files limit was raised after Listen.
			unix.Close(fd)
			continue
		}
		e.conns[fd].Store(c)
		if err := e.watch(l, c); err != nil {
			e.conns[fd].Store(nil)
			unix.Close(fd)
			p.acceptFailed(fmt.Errorf("watch connection: %w", err))
			continue
		}
		l.opened(c)
	}
}

// watch starts receiving on a new connection: in the loop's epoll set, or
// with the uring backend a multishot receive on its ring.
func (e *epoll) watch(l *loop, c *Conn) error {
	if e.ring {
		return e.recv(l, c)
	}
	return rawEpollCtl(l.epfd, unix.EPOLL_CTL_ADD, int(c.fd), c.event(unix.EPOLLIN|unix.EPOLLRDHUP))
}

// pauseAccept takes the listener out of the loop's epoll set until the
// back-off passes. Loop only.
func (e *epoll) pauseAccept(l *loop, now int64) {
	l.acceptBackoff = min(max(2*l.acceptBackoff, minAcceptBackoff), maxAcceptBackoff)
	l.acceptPaused = true
	l.acceptResume = now + int64(l.acceptBackoff)
	e.p.closeMu.Lock()
	if e.lnFile != nil {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, e.lnFd, nil)
	}
	e.p.closeMu.Unlock()
}

// resumeAccept watches the listener again (unless it was closed meanwhile:
// its number may belong to another socket by now). Loop only.
func (e *epoll) resumeAccept(l *loop) {
	l.acceptPaused = false
	e.p.closeMu.Lock()
	defer e.p.closeMu.Unlock()
	if e.lnFile != nil && !e.p.acceptOff {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, e.lnFd, listenerEvent(e.lnFd))
	}
}

// listenerEvent is the listener's registration: EPOLLEXCLUSIVE, so a new
// connection wakes one loop, not all of them.
func listenerEvent(fd int) *unix.EpollEvent {
	return &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(fd)}
}

// openReserve holds one descriptor back for answering clients when the
// process runs out: closed, it makes room for one accept.
func openReserve() int {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// overflow answers the connections waiting in the backlog while the process
// is out of descriptors: for each, it frees the reserved descriptor, accepts
// into it, answers and closes, and takes the reserve back. Another thread may
// take the freed number first (the reserve is then lost until the next
// successful accept restores it). p.acceptMu held.
func (e *epoll) overflow(scratch []byte) {
	if e.reserveFd < 0 {
		e.reserveFd = openReserve()
	}
	for i := 0; i < acceptBatch && e.reserveFd >= 0; i++ {
		unix.Close(e.reserveFd)
		e.reserveFd = -1
		fd, _, err := accept(e.lnFd)
		if err == nil {
			e.answerOverflow(fd, scratch)
		}
		e.reserveFd = openReserve()
		if err != nil {
			return
		}
	}
}

// restoreReserve takes the reserved descriptor back after it was lost. If
// no descriptor is free, the connection just accepted as fd is answered and
// closed to make room, and restoreReserve returns false. e.acceptMu held.
func (e *epoll) restoreReserve(fd int, scratch []byte) bool {
	if e.reserveFd = openReserve(); e.reserveFd >= 0 {
		return true
	}
	e.answerOverflow(fd, scratch)
	e.reserveFd = openReserve()
	return false
}

// answerOverflow writes Config.OverflowAnswer to a connection accepted while
// out of descriptors (best effort: the socket is new, its buffer empty) and
// closes it. The client's request is read first, so that the close sends a
// FIN rather than a reset that could destroy the answer in flight.
// e.acceptMu held.
func (e *epoll) answerOverflow(fd int, scratch []byte) {
	p := e.p
	p.overflowed.Add(1)
	_, _ = rawRead(fd, scratch)
	if len(p.cfg.OverflowAnswer) > 0 {
		_, _ = rawWrite(fd, p.cfg.OverflowAnswer)
	}
	unix.Close(fd)
	if p.cfg.OnOverflow != nil {
		p.cfg.OnOverflow()
	}
}
