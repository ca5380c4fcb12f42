package poller

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// acceptBatch bounds the accepts done per wakeup so that a connection flood
// cannot starve the reads of established connections on the same loop.
const acceptBatch = 64

// Accept back-off after the process ran out of descriptors: the loop stops
// watching the listener for a while (a level-triggered listener with a full
// backlog would otherwise wake it again at once, forever).
const (
	minAcceptBackoff = 10 * time.Millisecond
	maxAcceptBackoff = 320 * time.Millisecond
)

func (l *loop) accept(now int64) {
	p := l.p
	for i := 0; i < acceptBatch; i++ {
		// One loop accepts at a time (the kernel serialises accepts on the
		// listener anyway), so that no loop takes the descriptor another
		// one freed from the reserve to answer a client with.
		p.acceptMu.Lock()
		fd, peer, err := accept(p.lnFd)
		switch err {
		case nil:
			kept := p.reserveFd >= 0 || p.restoreReserve(fd, l.buf)
			p.acceptMu.Unlock()
			if !kept {
				continue // answered and closed: its descriptor is the reserve now
			}
		case unix.EAGAIN:
			p.acceptMu.Unlock()
			return // another loop took it, or nothing left
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Out of descriptors or kernel memory: answer what waits with
			// the reserved descriptor, then stop watching the listener.
			p.overflow(l.buf)
			p.acceptMu.Unlock()
			p.acceptFailed(err)
			l.pauseAccept(now)
			return
		default:
			// The connection failed before we took it (ECONNABORTED,
			// network errors the kernel passes on): try the next one.
			p.acceptMu.Unlock()
			p.acceptFailed(err)
			continue
		}
		l.acceptBackoff = 0
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := &Conn{fd: int32(fd), gen: p.nextGen(), loop: l, lastRead: now}
		c.setRemote(peer)
		if fd >= len(p.conns) {
			// Only if the open-files limit was raised after Listen.
			unix.Close(fd)
			continue
		}
		p.conns[fd].Store(c)
		l.count.Add(1)
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, c.event(unix.EPOLLIN|unix.EPOLLRDHUP)); err != nil {
			l.closeConn(c, fmt.Errorf("poller: watch connection: %w", err))
			continue
		}
		p.h.OnOpen(c)
		if !c.loopClosed {
			c.flushFromLoop()
		}
	}
}

// acceptFailed reports an accept error to Config.AcceptError.
func (p *Poller) acceptFailed(err error) {
	if p.cfg.AcceptError != nil {
		p.cfg.AcceptError(fmt.Errorf("poller: accept: %w", err))
	}
}

// pauseAccept takes the listener out of the loop's epoll set until the
// back-off passes. Loop only.
func (l *loop) pauseAccept(now int64) {
	l.acceptBackoff = min(max(2*l.acceptBackoff, minAcceptBackoff), maxAcceptBackoff)
	l.acceptPaused = true
	l.acceptResume = now + int64(l.acceptBackoff)
	l.p.closeMu.Lock()
	if l.p.lnFile != nil {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, l.p.lnFd, nil)
	}
	l.p.closeMu.Unlock()
}

// resumeAccept watches the listener again (unless it was closed meanwhile:
// its number may belong to another socket by now). Loop only.
func (l *loop) resumeAccept() {
	l.acceptPaused = false
	l.p.closeMu.Lock()
	defer l.p.closeMu.Unlock()
	if l.p.lnFile != nil {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, l.p.lnFd, listenerEvent(l.p.lnFd))
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
func (p *Poller) overflow(scratch []byte) {
	if p.reserveFd < 0 {
		p.reserveFd = openReserve()
	}
	for i := 0; i < acceptBatch && p.reserveFd >= 0; i++ {
		unix.Close(p.reserveFd)
		p.reserveFd = -1
		fd, _, err := accept(p.lnFd)
		if err == nil {
			p.answerOverflow(fd, scratch)
		}
		p.reserveFd = openReserve()
		if err != nil {
			return
		}
	}
}

// restoreReserve takes the reserved descriptor back after it was lost. If
// no descriptor is free, the connection just accepted as fd is answered and
// closed to make room, and restoreReserve returns false. p.acceptMu held.
func (p *Poller) restoreReserve(fd int, scratch []byte) bool {
	if p.reserveFd = openReserve(); p.reserveFd >= 0 {
		return true
	}
	p.answerOverflow(fd, scratch)
	p.reserveFd = openReserve()
	return false
}

// answerOverflow writes Config.OverflowAnswer to a connection accepted while
// out of descriptors (best effort: the socket is new, its buffer empty) and
// closes it. The client's request is read first, so that the close sends a
// FIN rather than a reset that could destroy the answer in flight.
// p.acceptMu held.
func (p *Poller) answerOverflow(fd int, scratch []byte) {
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
