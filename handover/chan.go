package handover

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// AbortError is the reason the other process gave when it abandoned the
// handover (an abort packet).
type AbortError struct{ Reason string }

func (e *AbortError) Error() string { return "handover: aborted by the other process: " + e.Reason }

// ErrClosed reports that the channel ended (the other process closed it or
// exited).
var ErrClosed = errors.New("handover: channel closed")

// defaultMaxMessage bounds one message: a connection's state plus its
// queued output fits far below it with wsedge's limits (-write-queue 1 MiB,
// -max-message-size).
const defaultMaxMessage = 64 << 20

// endpoint is one end of the handover channel: a SOCK_SEQPACKET Unix
// socket. Reads belong to one goroutine; sends are serialized by wmu.
type endpoint struct {
	c    *net.UnixConn
	rbuf []byte
	oob  []byte
	p    parser

	wmu      sync.Mutex
	pkt      []byte        // packet being built: header, then stream bytes
	fds      []int         // descriptors for the packet being built
	wtimeout time.Duration // per packet: the bound is on progress, not on a whole burst

	closeOnce sync.Once
}

// socketpair returns the two ends of a new channel as files.
func socketpair() (a, b *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("handover: socketpair: %w", err)
	}
	for _, fd := range fds {
		// Room for several full packets in flight; the kernel caps it at
		// wmem_max/rmem_max.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}
	return os.NewFile(uintptr(fds[0]), "handover-parent"), os.NewFile(uintptr(fds[1]), "handover-child"), nil
}

// newEndpoint wraps a channel socket; f is closed (the endpoint holds a
// duplicate managed by the runtime poller, so deadlines work).
func newEndpoint(f *os.File, maxMsg int) (*endpoint, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("handover: channel descriptor: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("handover: channel descriptor is a %T, not a Unix socket", c)
	}
	if maxMsg <= 0 {
		maxMsg = defaultMaxMessage
	}
	e := &endpoint{
		c:    uc,
		rbuf: make([]byte, maxPacket),
		oob:  make([]byte, unix.CmsgSpace(maxFDsPerPacket*4)),
	}
	e.p.maxMsg = maxMsg
	e.pkt = append(make([]byte, 0, maxPacket), framingVersion, kindData)
	return e, nil
}

// read returns the next message. Descriptors that came with it belong to
// the caller; its payload is valid until the next read.
func (e *endpoint) read() (message, error) {
	for {
		m, ok, err := e.p.next()
		if err != nil || ok {
			return m, err
		}
		if err := e.readPacket(); err != nil {
			return message{}, err
		}
	}
}

// readPacket receives one packet into the parser.
func (e *endpoint) readPacket() error {
	n, oobn, flags, _, err := e.c.ReadMsgUnix(e.rbuf, e.oob)
	var fds []int
	if oobn > 0 {
		fds = parseRights(e.oob[:oobn])
	}
	if err == nil && n == 0 {
		err = io.EOF
	}
	switch {
	case err != nil:
		closeFDs(fds)
		if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
			return ErrClosed
		}
		return fmt.Errorf("handover: channel read: %w", err)
	case flags&unix.MSG_CTRUNC != 0:
		closeFDs(fds)
		return fmt.Errorf("%w: descriptors were dropped by the kernel (open-files limit?)", ErrProtocol)
	case flags&unix.MSG_TRUNC != 0:
		closeFDs(fds)
		return protoErr("packet longer than %d bytes", maxPacket)
	case n < packetHeader || e.rbuf[0] != framingVersion:
		closeFDs(fds)
		return protoErr("unknown framing (version byte %d)", e.rbuf[0])
	}
	switch e.rbuf[1] {
	case kindData:
		e.p.feed(e.rbuf[packetHeader:n], fds)
		return nil
	case kindAbort:
		closeFDs(fds)
		return &AbortError{Reason: string(e.rbuf[packetHeader:n])}
	}
	closeFDs(fds)
	return protoErr("unknown packet kind %d", e.rbuf[1])
}

func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if r, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, r...)
		}
	}
	return fds
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// message appends one message to the packet being built, sending full
// packets as it goes. The descriptors ride with the packet holding the
// message's first byte. Callers hold wmu.
func (e *endpoint) message(typ byte, fds []int, parts ...[]byte) error {
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	if len(fds) > maxFDsPerPacket {
		return fmt.Errorf("handover: %d descriptors in one message (at most %d)", len(fds), maxFDsPerPacket)
	}
	if (len(fds) > 0 && len(e.fds)+len(fds) > maxFDsPerPacket) || len(e.pkt) >= maxPacket {
		if err := e.flush(); err != nil {
			return err
		}
	}
	e.pkt = appendHeader(e.pkt, typ, len(fds), size)
	e.fds = append(e.fds, fds...)
	for _, p := range parts {
		for len(p) > 0 {
			if len(e.pkt) >= maxPacket {
				if err := e.flush(); err != nil {
					return err
				}
			}
			n := copy(e.pkt[len(e.pkt):maxPacket], p)
			e.pkt = e.pkt[:len(e.pkt)+n]
			p = p[n:]
		}
	}
	return nil
}

// flush sends the packet being built, if it holds anything. Callers hold wmu.
func (e *endpoint) flush() error {
	if len(e.pkt) == packetHeader {
		return nil
	}
	if len(e.pkt) > maxPacket {
		// A header written at the very end may overhang: send the packet's
		// first maxPacket bytes and keep the rest for the next one.
		rest := append([]byte(nil), e.pkt[maxPacket:]...)
		if err := e.send(e.pkt[:maxPacket], e.fds); err != nil {
			return err
		}
		e.fds = e.fds[:0]
		e.pkt = append(e.pkt[:packetHeader], rest...)
		return e.flush()
	}
	err := e.send(e.pkt, e.fds)
	e.pkt = e.pkt[:packetHeader]
	e.fds = e.fds[:0]
	return err
}

func (e *endpoint) send(pkt []byte, fds []int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if e.wtimeout > 0 {
		e.c.SetWriteDeadline(time.Now().Add(e.wtimeout))
	}
	if _, _, err := e.c.WriteMsgUnix(pkt, oob, nil); err != nil {
		if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
			return ErrClosed
		}
		return fmt.Errorf("handover: channel write: %w", err)
	}
	return nil
}

// sendNow writes one message and flushes it, each packet within timeout.
func (e *endpoint) sendNow(timeout time.Duration, typ byte, fds []int, parts ...[]byte) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	e.wtimeout = timeout
	if err := e.message(typ, fds, parts...); err != nil {
		return err
	}
	return e.flush()
}

// abort sends an abort packet with the reason, outside the stream: it may
// arrive in the middle of a message, which the reader then abandons.
func (e *endpoint) abort(reason string, timeout time.Duration) error {
	if len(reason) > maxPacket-packetHeader {
		reason = reason[:maxPacket-packetHeader]
	}
	pkt := append([]byte{framingVersion, kindAbort}, reason...)
	e.c.SetWriteDeadline(time.Now().Add(timeout))
	_, _, err := e.c.WriteMsgUnix(pkt, nil, nil)
	return err
}

// close ends the channel. Descriptors received and never claimed are closed
// by the reader (closeUnclaimed) once it stopped reading.
func (e *endpoint) close() {
	e.closeOnce.Do(func() { e.c.Close() })
}

// closeUnclaimed closes descriptors that arrived without a message to claim
// them (a stream cut in the middle). Reader goroutine only.
func (e *endpoint) closeUnclaimed() { closeFDs(e.p.takeFDs()) }
