package handover

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The service manager protocol (sd_notify): newline-separated KEY=VALUE
// assignments in one datagram to the Unix socket named by $NOTIFY_SOCKET
// (a path, or an abstract name written with a leading '@'). No library is
// needed for a datagram.
//
// Under systemd the unit uses Type=notify: the first process sends
// READY=1 once it listens; at a handover the old process, which is the
// unit's main process, sends MAINPID=<successor> after COMMIT, so systemd
// follows the new process when the old one exits (the successor is in the
// unit's cgroup, which systemd requires of a new main PID). The old process
// then waits on a barrier (BARRIER=1 with a pipe's write end, which the
// manager closes once it has processed everything sent before): exiting
// before the manager read MAINPID= would make it see its main process
// exit and stop the unit.

// Notify sends state to the service manager. It returns false, nil when
// $NOTIFY_SOCKET is not set (not started by a service manager).
func Notify(state string) (bool, error) {
	return notify(state, nil)
}

func notify(state string, fds []int) (bool, error) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return false, nil
	}
	if name[0] != '/' && name[0] != '@' {
		return false, fmt.Errorf("handover: NOTIFY_SOCKET=%q is not a Unix socket path", name)
	}
	// Raw calls: the net package refuses WriteMsgUnix on a connected
	// datagram socket, and a blocking datagram send to a local socket is
	// short. x/sys/unix maps a leading '@' to the abstract namespace.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("handover: notify socket: %w", err)
	}
	defer unix.Close(fd)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(fd, []byte(state), oob, &unix.SockaddrUnix{Name: name}, 0); err != nil {
		return false, fmt.Errorf("handover: notify %s: %w", name, err)
	}
	return true, nil
}

// ErrBarrierTimeout: the service manager did not confirm in time.
var ErrBarrierTimeout = errors.New("handover: service manager barrier timed out")

// NotifyBarrier waits until the service manager has processed every
// notification sent before it (sd_notify_barrier): it sends BARRIER=1 with
// the write end of a pipe and waits for the manager to close it. Without
// $NOTIFY_SOCKET it returns nil at once.
func NotifyBarrier(timeout time.Duration) error {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("handover: barrier pipe: %w", err)
	}
	defer r.Close()
	_, err = notify("BARRIER=1", []int{int(w.Fd())})
	w.Close() // the manager now holds the only write end
	if err != nil {
		return err
	}
	r.SetReadDeadline(time.Now().Add(timeout))
	var b [1]byte
	for {
		_, err := r.Read(b[:])
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("%w (%s)", ErrBarrierTimeout, timeout)
		case err != nil:
			return fmt.Errorf("handover: barrier: %w", err)
		}
	}
}
