//go:build linux

package bench

import (
	"errors"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/wsedge/wsedge/codec"
)

// clientCodec is the decoder configuration of every client connection: it
// is read-only, so sharing it is not mutable package state.
var clientCodec = codec.Config{Client: true}

const (
	stConnecting uint8 = iota
	stUpgrading
	stOpen
	stClosing // our close frame is sent; waiting for the server's
)

// conn is one client connection, owned by its loop. It is the codec Handler
// for its own frames.
type conn struct {
	l        *loop
	fd       int
	state    uint8
	acked    bool
	outArmed bool // EPOLLOUT is armed: out holds unsent bytes
	t0       int64
	owed     int    // replies received that release a send
	in       []byte // unconsumed tail: an unfinished frame or response
	out      []byte // bytes not yet written
	dec      codec.Decoder
	endCause string // set by OnClose: how the connection ends
}

func (l *loop) event(c *conn, ev uint32) {
	switch c.state {
	case stConnecting:
		soerr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && soerr != 0 {
			l.fail(c, "connect: "+unix.Errno(soerr).Error())
			return
		}
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		n, err := unix.Write(c.fd, l.e.req)
		if err != nil || n != len(l.e.req) {
			l.fail(c, "write upgrade request: "+errString(err))
			return
		}
		c.state = stUpgrading
		l.setEvents(c, unix.EPOLLIN|unix.EPOLLRDHUP)
	default:
		if ev&unix.EPOLLOUT != 0 && c.outArmed {
			if !l.flush(c) {
				return
			}
		}
		if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			l.read(c)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "short write"
	}
	return err.Error()
}

// read reads once and decodes. The unconsumed tail of the last read is put
// in front of the new bytes, in the loop's buffer when it is small, or read
// after in the connection's own buffer when it is a big unfinished frame.
func (l *loop) read(c *conn) {
	buf, off := l.rbuf, 0
	own := len(c.in) > len(l.rbuf)/2
	if own {
		if cap(c.in)-len(c.in) < 16<<10 {
			c.in = append(c.in, make([]byte, cap(c.in)+16<<10)...)[:len(c.in)]
		}
		buf, off = c.in[:cap(c.in)], len(c.in)
	} else if len(c.in) > 0 {
		off = copy(buf, c.in)
	}
	n, err := unix.Read(c.fd, buf[off:])
	if n <= 0 {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return
		}
		cause := "eof"
		if err != nil {
			cause = err.Error()
		}
		l.end(c, cause)
		return
	}
	data := buf[:off+n]
	if c.state == stUpgrading {
		hl, err := parseUpgradeResponse(data)
		if errors.Is(err, errIncomplete) {
			c.keep(data, own)
			return
		}
		if err != nil {
			l.fail(c, err.Error())
			return
		}
		l.upgraded(c)
		data = data[hl:]
		if c.fd < 0 {
			return
		}
	}
	consumed, err := c.dec.Feed(data, c)
	if c.fd < 0 { // a handler ended the connection
		return
	}
	if err != nil {
		var ce *codec.Error
		if errors.As(err, &ce) {
			l.end(c, "protocol error: "+err.Error())
			return
		}
		l.end(c, err.Error())
		return
	}
	if c.dec.Stopped() { // close frame handled
		l.closeDone(c)
		return
	}
	c.keep(data[consumed:], own)
	switch {
	case c.owed > 0:
		k := c.owed
		c.owed = 0
		l.send(c, k)
	case len(c.out) > 0 && !c.outArmed: // pongs
		l.flush(c)
	}
}

// keep stores the unconsumed tail for the next read.
func (c *conn) keep(tail []byte, own bool) {
	if own {
		c.in = c.in[:copy(c.in[:cap(c.in)], tail)]
		return
	}
	c.in = append(c.in[:0], tail...)
}

// upgraded runs when the 101 arrived.
func (l *loop) upgraded(c *conn) {
	l.hs.RecordValue(l.now - c.t0)
	l.opened.Add(1)
	l.inflight--
	c.state = stOpen
	switch {
	case l.e.cfg.Churn:
		c.state, c.t0 = stClosing, l.now
		l.pending = append(l.pending, c)
		c.out = codec.AppendClientClose(c.out, clientMask, codec.CloseNormal, "")
		l.flush(c)
	case l.e.open != nil:
		c.out = append(c.out, l.e.open...)
		l.flush(c)
	}
	if c.fd >= 0 && c.state == stOpen && l.sendOn && l.e.cfg.Depth > 0 && l.e.cfg.Message != nil {
		l.send(c, l.e.cfg.Depth)
	}
}

// send appends k stamped messages and writes.
func (l *loop) send(c *conn, k int) {
	t := l.e.cfg.Message
	ts := l.e.now()
	for i := 0; i < k; i++ {
		c.out = t.appendTo(c.out, ts)
	}
	l.sent.Add(int64(k))
	l.flush(c)
}

// flush writes out; it reports false when the connection was lost.
func (l *loop) flush(c *conn) bool {
	if len(c.out) == 0 {
		return true
	}
	n, err := unix.Write(c.fd, c.out)
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		l.end(c, "write: "+err.Error())
		return false
	}
	if n < 0 {
		n = 0
	}
	c.out = c.out[:copy(c.out, c.out[n:])]
	switch {
	case len(c.out) > 0 && !c.outArmed:
		c.outArmed = true
		l.setEvents(c, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP)
	case len(c.out) == 0 && c.outArmed:
		c.outArmed = false
		l.setEvents(c, unix.EPOLLIN|unix.EPOLLRDHUP)
	}
	return true
}

// release forgets the connection and closes its socket.
func (l *loop) release(c *conn) {
	l.conns[c.fd] = nil
	unix.Close(c.fd)
	c.fd = -1
	c.dec.Reset()
}

// fail ends a connection that never opened.
func (l *loop) fail(c *conn, cause string) {
	l.inflight--
	l.failed.Add(1)
	l.causes[cause]++
	l.release(c)
	l.churnNext()
}

// end ends a connection for cause: a failure before the upgrade, a drop
// after it, or the end of a close handshake we started.
func (l *loop) end(c *conn, cause string) {
	switch c.state {
	case stConnecting, stUpgrading:
		l.fail(c, cause)
	case stClosing:
		l.finish(c, "no close reply: "+cause)
	default:
		l.dropped.Add(1)
		l.causes["dropped: "+cause]++
		l.release(c)
	}
}

// finish completes a close handshake we started (cause "" when clean).
func (l *loop) finish(c *conn, cause string) {
	if cause != "" {
		l.causes[cause]++
	}
	l.closedN.Add(1)
	l.release(c)
	l.churnNext()
}

// closeDone runs after the server's close frame was decoded.
func (l *loop) closeDone(c *conn) {
	if c.state == stClosing {
		l.finish(c, "")
		return
	}
	// The server started the close: answer it, then count a drop.
	c.out = codec.AppendClientClose(c.out, clientMask, codec.CloseNormal, "")
	l.flush(c)
	if c.fd >= 0 {
		l.end(c, c.endCause)
	}
}

// OnMessage implements codec.Handler.
func (c *conn) OnMessage(op codec.OpCode, p []byte) error {
	l := c.l
	l.received.Add(1)
	if ts, ok := parseStamp(op, p); ok {
		l.timed.Add(1)
		if l.e.record.Load() && l.now > ts {
			// Out-of-range values would make RecordValue allocate an error.
			_ = l.lat.RecordValue(min(l.now-ts, histMax))
		}
		if l.sendOn && l.e.cfg.Depth > 0 {
			c.owed++
		}
	} else if !c.acked {
		c.acked = true
		l.acked.Add(1)
	}
	return nil
}

// OnPing implements codec.Handler: answer with a pong.
func (c *conn) OnPing(p []byte) error {
	c.out = codec.AppendClientFrame(c.out, codec.OpPong, true, clientMask, p)
	return nil
}

// OnPong implements codec.Handler.
func (c *conn) OnPong([]byte) error { return nil }

// OnClose implements codec.Handler.
func (c *conn) OnClose(code codec.CloseCode, _ []byte) error {
	c.endCause = "server close " + strconv.Itoa(int(code))
	return nil
}
