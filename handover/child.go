package handover

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Predecessor is the successor's side of the channel: the old process it
// takes over from.
type Predecessor struct {
	ep    *endpoint
	ppid  int // parent at start-up
	pidfd int // the parent, readable once it exits; -1 if unavailable
	start Start
	ready bool
	gone  func(time.Duration) bool // tests: replaces parentGone
}

// Inherited reports whether this process was started as a successor.
func Inherited() bool {
	_, ok := os.LookupEnv(EnvFD)
	return ok
}

// Inherit returns the channel to the old process when this process was
// started as its successor, and (nil, nil) otherwise. It removes EnvFD from
// the environment, so a later handover of this process starts clean, and
// makes the channel close-on-exec.
func Inherit() (*Predecessor, error) {
	v, ok := os.LookupEnv(EnvFD)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(EnvFD)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("handover: %s=%q is not a descriptor", EnvFD, v)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("handover: %s=%d: %w", EnvFD, fd, err)
	}
	ep, err := newEndpoint(os.NewFile(uintptr(fd), "handover"), 0)
	if err != nil {
		return nil, err
	}
	p := &Predecessor{ep: ep, ppid: os.Getppid(), pidfd: -1}
	// A pidfd tells the parent's death (readable) from an abort (the
	// parent alive and the channel closed) without racing PID reuse.
	if pfd, err := unix.PidfdOpen(p.ppid, 0); err == nil {
		unix.CloseOnExec(pfd)
		p.pidfd = pfd
	}
	return p, nil
}

// Ready says HELLO (h.Origin and h.Info are the caller's; versions and PID
// are filled in) and waits for START, up to timeout (0: 30s). Call it once
// the configuration is parsed and everything is built, before listening.
// The listeners in Start belong to the caller from then on.
func (p *Predecessor) Ready(h Hello, timeout time.Duration) (Start, error) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	h.MinVersion, h.MaxVersion, h.PID = MinVersion, MaxVersion, os.Getpid()
	if err := p.ep.sendNow(timeout, msgHello, nil, encodeHello(h)); err != nil {
		return Start{}, fmt.Errorf("handover: sending HELLO: %w", err)
	}
	p.ep.c.SetReadDeadline(time.Now().Add(timeout))
	m, err := p.ep.read()
	p.ep.c.SetReadDeadline(time.Time{})
	if err != nil {
		return Start{}, fmt.Errorf("handover: waiting for START: %w", err)
	}
	if m.typ != msgStart {
		closeFDs(m.fds)
		return Start{}, protoErr("expected START, got %s", msgName(m.typ))
	}
	st, err := decodeStart(m.payload, m.fds)
	if err != nil {
		closeFDs(m.fds)
		return Start{}, err
	}
	if st.Version < MinVersion || st.Version > MaxVersion {
		closeFDs(m.fds)
		return Start{}, fmt.Errorf("%w: the old process chose version %d", ErrVersion, st.Version)
	}
	if st.Timeout <= 0 {
		st.Timeout = 10 * time.Second
	}
	p.start, p.ready = st, true
	return st, nil
}

// Adopter is what the successor's server provides. Run calls it from one
// goroutine, in channel order.
type Adopter interface {
	// Adopt takes a connection: on nil, c.FD is the adopter's, parked
	// (not polled, not read, no timer running) until Commit. On an error
	// the package closes c.FD (the old process still holds the socket) and
	// reports the refusal. c.State is valid only during the call.
	Adopt(c Conn) error
	// Write appends b to connection id's output. A shared b is the same
	// immutable slice for every connection it goes to and may be kept;
	// otherwise it is valid only during the call.
	Write(id uint64, b []byte, shared bool)
	// Event applies a server-defined event to connection id; b is valid
	// only during the call.
	Event(id uint64, b []byte)
	// Commit starts serving everything adopted and accepting on the
	// listeners. There is no way back after it.
	Commit()
	// Abort gives up before Commit: close every adopted descriptor and
	// listener with close(2) only (never shutdown(2), never a write: the
	// old process serves those sockets on) and stop.
	Abort(err error)
	// Relayed is a channel message the old process relays after COMMIT;
	// its slices are valid only during the call.
	Relayed(m Message)
	// NATSEnd: the old process no longer receives cluster messages.
	NATSEnd()
}

// Outcome says how Run ended.
type Outcome struct {
	Committed bool // the successor owns and serves the connections
	// Orphaned: the old process died during the handover and this one
	// took over what it had adopted.
	Orphaned bool
	Adopted  int
	Refused  int
}

// ErrAborted wraps the reason a handover was abandoned before COMMIT.
var ErrAborted = errors.New("handover: aborted")

// Subscribed tells the old process that this one's own cluster
// subscriptions are up, so it may stop receiving (and then sends NATSEND).
func (p *Predecessor) Subscribed() error {
	return p.ep.sendNow(p.start.Timeout, msgSubscribed, nil)
}

// parentGone reports whether the old process has exited, waiting up to
// wait for it: when the channel closes because the parent died, its exit
// completes shortly after its descriptors are closed.
func (p *Predecessor) parentGone(wait time.Duration) bool {
	if p.gone != nil {
		return p.gone(wait)
	}
	if os.Getppid() != p.start.PID {
		return true // reparented: the old process is gone
	}
	if p.pidfd >= 0 {
		fds := []unix.PollFd{{Fd: int32(p.pidfd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, int(wait/time.Millisecond))
			if err == unix.EINTR {
				continue
			}
			return err == nil && n > 0
		}
	}
	deadline := time.Now().Add(wait)
	for {
		if os.Getppid() != p.ppid {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// close releases the channel and the pidfd.
func (p *Predecessor) close() {
	p.ep.close()
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
}
