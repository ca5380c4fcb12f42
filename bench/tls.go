package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// TLS in the engine (wss://). crypto/tls runs the handshake, which it can
// only do blocking: each connection in a handshake gets a goroutine (at most
// MaxInflight per loop, like connects) that drives it over the non-blocking
// socket, waiting with poll(2). The goroutine hands the connection back to
// its loop, and from then on the loop drives the same tls.Conn without
// blocking: reads return errWouldBlock (a temporary net.Error, which
// crypto/tls does not make sticky) when the socket is drained, and writes
// never fail but queue the sealed records in wbuf, which the loop writes
// when the socket takes them. An idle wss connection costs its tls.Conn
// and nothing else: no goroutine.

// tlsConn is a connection's TLS state.
type tlsConn struct {
	tc *tls.Conn
	tr tlsTransport
}

// tlsTransport is the net.Conn under a tls.Conn: the socket itself.
type tlsTransport struct {
	fd       int
	blocking bool      // during the handshake: wait with poll(2)
	deadline time.Time // of the handshake
	wbuf     []byte    // sealed bytes not yet written (loop mode)
}

// errWouldBlock is returned by reads of a drained socket in loop mode.
var errWouldBlock = &wouldBlock{}

type wouldBlock struct{}

func (*wouldBlock) Error() string   { return "would block" }
func (*wouldBlock) Timeout() bool   { return true }
func (*wouldBlock) Temporary() bool { return true }

var errHandshakeTimeout = errors.New("tls handshake timeout")

// wait polls fd for events until the handshake deadline.
func (t *tlsTransport) wait(events int16) error {
	for {
		left := time.Until(t.deadline)
		if left <= 0 {
			return errHandshakeTimeout
		}
		fds := []unix.PollFd{{Fd: int32(t.fd), Events: events}}
		n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n > 0 {
			if fds[0].Revents&unix.POLLNVAL != 0 {
				return net.ErrClosed
			}
			return nil
		}
	}
}

func (t *tlsTransport) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(t.fd, p)
		switch {
		case n > 0:
			return n, nil
		case n == 0 && err == nil:
			return 0, io.EOF
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			if !t.blocking {
				return 0, errWouldBlock
			}
			if err := t.wait(unix.POLLIN); err != nil {
				return 0, err
			}
		default:
			return 0, err
		}
	}
}

func (t *tlsTransport) Write(p []byte) (int, error) {
	if !t.blocking {
		t.wbuf = append(t.wbuf, p...)
		return len(p), nil
	}
	done := 0
	for done < len(p) {
		n, err := unix.Write(t.fd, p[done:])
		if n > 0 {
			done += n
		}
		switch {
		case err == nil, errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			if err := t.wait(unix.POLLOUT); err != nil {
				return done, err
			}
		default:
			return done, err
		}
	}
	return done, nil
}

// The engine owns and closes the socket; the rest of net.Conn is inert.
func (t *tlsTransport) Close() error                     { return nil }
func (t *tlsTransport) LocalAddr() net.Addr              { return dummyAddr{} }
func (t *tlsTransport) RemoteAddr() net.Addr             { return dummyAddr{} }
func (t *tlsTransport) SetDeadline(time.Time) error      { return nil }
func (t *tlsTransport) SetReadDeadline(time.Time) error  { return nil }
func (t *tlsTransport) SetWriteDeadline(time.Time) error { return nil }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "tcp" }
func (dummyAddr) String() string  { return "socket" }

// startTLS hands a connected socket to a handshake goroutine; the loop
// leaves it alone (no events) until the goroutine posts it back.
func (l *loop) startTLS(c *conn) {
	c.state = stTLS
	l.setEvents(c, 0)
	c.tls = &tlsConn{tr: tlsTransport{fd: c.fd, blocking: true,
		deadline: time.Now().Add(time.Duration(l.e.cfg.HandshakeTimeout - time.Duration(l.e.now()-c.t0)))}}
	c.tls.tc = tls.Client(&c.tls.tr, l.e.cfg.TLS)
	l.hsWG.Add(1)
	l.tlsBusy++
	go func() {
		defer l.hsWG.Done()
		err := c.tls.tc.HandshakeContext(context.Background())
		l.tlsMu.Lock()
		l.tlsDone = append(l.tlsDone, tlsResult{c, err})
		l.tlsMu.Unlock()
		l.wake()
	}()
}

type tlsResult struct {
	c   *conn
	err error
}

// finishTLS takes back the connections whose handshake ended: failed ones
// fail, the others send their upgrade request through TLS.
func (l *loop) finishTLS() {
	l.tlsMu.Lock()
	done := l.tlsDone
	l.tlsDone = nil
	l.tlsMu.Unlock()
	for _, r := range done {
		c := r.c
		l.tlsBusy--
		c.tls.tr.blocking = false
		if r.err != nil {
			cause := "tls: " + r.err.Error()
			if errors.Is(r.err, errHandshakeTimeout) {
				cause = "tls handshake timeout"
			}
			l.fail(c, cause)
			continue
		}
		l.sendRequest(c)
	}
}

// readTLS reads decrypted bytes into p: as many records as there are (a
// record already in crypto/tls's buffer raises no epoll event, so the
// socket is drained), stopping when p is full (more reports that more may
// be buffered: read again).
func (c *conn) readTLS(p []byte) (n int, more bool, err error) {
	for n < len(p) {
		k, err := c.tls.tc.Read(p[n:])
		n += k
		if err != nil {
			if errors.Is(err, errWouldBlock) {
				if n == 0 {
					return 0, false, unix.EAGAIN
				}
				return n, false, nil
			}
			if n > 0 {
				return n, false, nil // the error comes again at the next read
			}
			return 0, false, err
		}
	}
	return n, true, nil
}
