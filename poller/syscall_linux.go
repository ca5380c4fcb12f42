package poller

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loops' socket calls go through RawSyscall: on non-blocking sockets
// read, write and a zero-timeout epoll_wait never block, so there is no
// reason to tell the scheduler about them. A regular Syscall marks the
// goroutine as in a syscall, and once it has been there ~20µs the runtime's
// monitor hands the loop's P to another thread; the loop then pays a futex
// wake-up and a thread switch to get one back. Blocking calls (epoll_wait
// with a timeout) still use the regular path.

func rawRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// epollWait is a non-blocking epoll_wait (timeout must be 0).
func epollWait(epfd int, events []unix.EpollEvent, timeout int) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), uintptr(timeout), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// accept takes one connection off the listening socket, non-blocking, and
// decodes the peer address in place (unix.Accept4 allocates a Sockaddr per
// connection, garbage under a connection storm).
func accept(lfd int) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	size := uint32(unix.SizeofSockaddrAny)
	fd, _, errno := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&size)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, netip.AddrPort{}, errno
	}
	var ap netip.AddrPort
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		ap = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		ap = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port))
	}
	return int(fd), ap, nil
}

// ntohs reads a port stored in network byte order.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}
func writev(fd int, iov []unix.Iovec) (int, error) {
	n, _, errno := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(iov))), uintptr(len(iov)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// sendv writes a then b to a non-blocking socket in one call. A full
// socket (EAGAIN, EINTR) is 0 bytes written, not an error.
func sendv(fd int, a, b []byte) (int, error) {
	var n int
	var err error
	switch {
	case len(a) == 0:
		n, err = rawWrite(fd, b)
	case len(b) == 0:
		n, err = rawWrite(fd, a)
	default:
		var iov [2]unix.Iovec
		iov[0].Base, iov[1].Base = unsafe.SliceData(a), unsafe.SliceData(b)
		iov[0].SetLen(len(a))
		iov[1].SetLen(len(b))
		n, err = writev(fd, iov[:])
	}
	if err == unix.EAGAIN || err == unix.EINTR {
		return 0, nil
	}
	return n, err
}

// The per-connection bookkeeping calls on the loops never block either:
// epoll_ctl, shutdown, and close of a socket without SO_LINGER (the kernel
// sends the FIN and finishes the teardown on its own). Through Syscall,
// a close that ran long (the loopback FIN processed in the caller's
// context) let the runtime hand the loop's P away mid-call.

func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func rawShutdown(fd, how int) {
	unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), uintptr(how), 0)
}

func rawClose(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}
