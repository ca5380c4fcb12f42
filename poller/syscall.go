package poller

import (
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
