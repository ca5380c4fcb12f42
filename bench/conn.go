//go:build linux

package bench

import (
	"errors"

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
	stTLS     // in a TLS handshake: its goroutine owns the socket
)

// conn is one client connection, owned by its loop. It is the codec Handler
// for its own frames.
type conn struct {
	l        *loop
	fd       int
	state    uint8
	acks     uint8 // replies still owed to the Open messages
	refused  bool  // one of them was refused
	id       int32 // dial order in the engine: the n of EngineConfig.Open
	outArmed bool  // EPOLLOUT is armed: out holds unsent bytes
	t0       int64
	owed     int    // replies received that release a send
	in       []byte // unconsumed tail: an unfinished frame or response
	out      []byte // bytes not yet written
	dec      codec.Decoder
	endCause string       // set by OnClose: how the connection ends
	tls      *tlsConn     // wss:// only
	deflate  *deflateConn // when permessage-deflate was agreed
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
		if l.e.cfg.TLS != nil {
			l.startTLS(c)
			return
		}
		req := l.e.request(c.id)
		n, err := unix.Write(c.fd, req)
		if err != nil || n != len(req) {
			l.fail(c, "write upgrade request: "+errString(err))
			return
		}
		c.state = stUpgrading
		l.setEvents(c, unix.EPOLLIN|unix.EPOLLRDHUP)
	case stTLS: // the handshake goroutine owns the socket
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

// sendRequest sends the upgrade request after the TLS handshake.
func (l *loop) sendRequest(c *conn) {
	c.state = stUpgrading
	l.setEvents(c, unix.EPOLLIN|unix.EPOLLRDHUP)
	c.out = append(c.out, l.e.request(c.id)...)
	l.flush(c)
}

// read reads and decodes until the socket is drained (once for plain
// sockets: epoll is level-triggered).
func (l *loop) read(c *conn) {
	for l.readOnce(c) && c.fd >= 0 {
	}
}

// readOnce reads once and decodes; it reports whether more may be waiting
// in TLS buffers. The unconsumed tail of the last read is put in front of
// the new bytes, in the loop's buffer when it is small, or read after in
// the connection's own buffer when it is a big unfinished frame.
func (l *loop) readOnce(c *conn) (more bool) {
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
	var n int
	var err error
	if c.tls != nil {
		n, more, err = c.readTLS(buf[off:])
	} else {
		n, err = unix.Read(c.fd, buf[off:])
	}
	if n <= 0 {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return false
		}
		cause := "eof"
		if err != nil {
			cause = err.Error()
		}
		l.end(c, cause)
		return false
	}
	data := buf[:off+n]
	if c.state != stUpgrading {
		l.rxWire.Add(int64(n))
	}
	if c.state == stUpgrading {
		hl, err := parseUpgradeResponse(data)
		if errors.Is(err, errIncomplete) {
			c.keep(data, own)
			return more
		}
		if err != nil {
			l.fail(c, err.Error())
			return false
		}
		if !l.negotiated(c, data[:hl]) {
			return false
		}
		l.upgraded(c)
		data = data[hl:]
		l.rxWire.Add(int64(len(data)))
		if c.fd < 0 {
			return false
		}
	}
	if c.deflate != nil {
		if err := c.deflate.scan(data); err != nil {
			l.end(c, "protocol error: "+err.Error())
			return false
		}
	}
	consumed, err := c.dec.Feed(&clientCodec, data, c)
	if c.deflate != nil {
		c.deflate.consumed(consumed)
	}
	if c.fd < 0 { // a handler ended the connection
		return false
	}
	if err != nil {
		var ce *codec.Error
		if errors.As(err, &ce) {
			l.end(c, "protocol error: "+err.Error())
			return false
		}
		l.end(c, err.Error())
		return false
	}
	if c.dec.Stopped() { // close frame handled
		l.closeDone(c)
		return false
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
	return more
}

// keep stores the unconsumed tail for the next read.
func (c *conn) keep(tail []byte, own bool) {
	if own {
		c.in = c.in[:copy(c.in[:cap(c.in)], tail)]
		return
	}
	c.in = append(c.in[:0], tail...)
}

// negotiated reads the server's answer to a permessage-deflate offer; a
// bad answer fails the connection (false).
func (l *loop) negotiated(c *conn, head []byte) bool {
	if l.e.cfg.Deflate == "" {
		return true
	}
	p, ok, err := parseDeflateAnswer(headerValue(head, "Sec-WebSocket-Extensions"), l.e.cfg.Deflate)
	if err != nil {
		l.fail(c, err.Error())
		return false
	}
	if ok {
		c.deflate = &deflateConn{params: p}
		l.compressed.Add(1)
	}
	return true
}

// upgraded runs when the 101 arrived.
func (l *loop) upgraded(c *conn) {
	l.hs.RecordValue(l.now - c.t0)
	l.opened.Add(1)
	l.inflight--
	c.state, c.t0 = stOpen, l.now // t0 now times the wait for acks (churn)
	switch {
	case l.e.cfg.Churn && l.e.cfg.Open == nil:
		l.startClose(c)
		l.flush(c)
	case l.e.cfg.Open != nil: // in churn, the close starts at the last ack
		msgs := l.e.cfg.Open(int(c.id))
		for _, m := range msgs {
			c.out = codec.AppendClientFrame(c.out, codec.OpText, true, clientMask, m)
		}
		c.acks = uint8(min(len(msgs), 255))
		l.flush(c)
	}
	if c.fd >= 0 && c.state == stOpen && l.sendOn && l.e.cfg.Depth > 0 && l.e.cfg.Message != nil {
		l.send(c, l.e.cfg.Depth)
	}
}

// startClose queues our close frame; the caller flushes.
func (l *loop) startClose(c *conn) {
	c.state, c.t0 = stClosing, l.now
	l.pending = append(l.pending, c)
	c.out = codec.AppendClientClose(c.out, clientMask, codec.CloseNormal, "")
}

// send appends k stamped messages and writes.
func (l *loop) send(c *conn, k int) {
	t := l.e.cfg.Message
	if c.deflate != nil && l.e.msgZ != nil {
		t = l.e.msgZ
	}
	ts := l.e.now()
	for i := 0; i < k; i++ {
		c.out = t.appendTo(c.out, ts)
	}
	l.sent.Add(int64(k))
	l.txWire.Add(int64(k * len(t.frame)))
	l.txPayload.Add(int64(k * len(t.payload)))
	l.flush(c)
}

// flush writes out (sealed first on TLS); it reports false when the
// connection was lost.
func (l *loop) flush(c *conn) bool {
	pend := &c.out
	if c.tls != nil {
		if len(c.out) > 0 {
			// The transport queues every record: only an earlier error fails.
			if _, err := c.tls.tc.Write(c.out); err != nil {
				l.end(c, "tls write: "+err.Error())
				return false
			}
			c.out = c.out[:0]
		}
		pend = &c.tls.tr.wbuf
	}
	if len(*pend) == 0 {
		return true
	}
	n, err := unix.Write(c.fd, *pend)
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		l.end(c, "write: "+err.Error())
		return false
	}
	if n < 0 {
		n = 0
	}
	*pend = (*pend)[:copy(*pend, (*pend)[n:])]
	switch {
	case len(*pend) > 0 && !c.outArmed:
		c.outArmed = true
		l.setEvents(c, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP)
	case len(*pend) == 0 && c.outArmed:
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
	c.dec.Reset(&clientCodec)
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
