package poller

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The epoll backend's part of a handover (handover.go).

// detach stops polling c. c.mu held.
func (e *epoll) detach(c *Conn) error {
	if err := unix.EpollCtl(c.loop.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil); err != nil {
		return fmt.Errorf("poller: export: epoll_ctl DEL: %w", err)
	}
	c.armed = false // EPOLLOUT went with the registration
	return nil
}

// attach polls c (again) for input; output re-arms EPOLLOUT when it blocks.
func (e *epoll) attach(c *Conn) error {
	if err := unix.EpollCtl(c.loop.epfd, unix.EPOLL_CTL_ADD, int(c.fd), c.event(unix.EPOLLIN|unix.EPOLLRDHUP)); err != nil {
		return fmt.Errorf("poller: epoll_ctl ADD: %w", err)
	}
	return nil
}

// install enters an adopted connection in the descriptor table, not polled.
func (e *epoll) install(c *Conn) error {
	fd := int(c.fd)
	if fd < 0 || fd >= len(e.conns) {
		return fmt.Errorf("poller: adopt: descriptor %d is outside the table (%d: the open-files limit)", fd, len(e.conns))
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("poller: adopt: %w", err)
	}
	unix.CloseOnExec(fd)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c.timer.Value = e.nextGen()
	if !e.conns[fd].CompareAndSwap(nil, c) {
		return fmt.Errorf("poller: adopt: descriptor %d is already in use", fd)
	}
	return nil
}

func (e *epoll) listenerFD() (int, error) {
	if e.lnFile == nil {
		return -1, ErrClosed
	}
	return e.lnFd, nil
}

// setAccepting watches the listener in every loop, or none. p.closeMu held.
// A loop backing off after EMFILE may get it back early: harmless.
func (e *epoll) setAccepting(on bool) error {
	if e.lnFile == nil {
		return ErrClosed
	}
	for _, l := range e.p.loops {
		if on {
			if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, e.lnFd, listenerEvent(e.lnFd)); err != nil && err != unix.EEXIST {
				return fmt.Errorf("poller: watch listener: %w", err)
			}
			continue
		}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, e.lnFd, nil); err != nil && err != unix.ENOENT {
			return fmt.Errorf("poller: unwatch listener: %w", err)
		}
	}
	return nil
}
