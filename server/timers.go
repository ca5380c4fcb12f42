package server

import (
	"encoding/binary"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/poller"
)

// A connection's single timer: handshake, idle and read timeouts, pings, and
// identity's deadlines (connect in time, the token's end).

// OnTimer enforces the handshake, idle and read timeouts and sends pings.
func (s *Server) OnTimer(c *poller.Conn, now int64) {
	w := poller.State[wsConn](c)
	switch w.state {
	case stHandshake:
		if d := s.opts.HandshakeTimeout; d > 0 && now-w.accepted() >= int64(d) && w.ep == epKeptAlive {
			w.closeKeptAlive() // a kept-alive HTTP client gone quiet: not a refusal
			return
		}
		if d := s.opts.HandshakeTimeout; d > 0 && now-w.accepted() >= int64(d) {
			s.m.Timeouts.WithLabelValues("handshake").Inc()
			s.refused(refHandshakeTimeout, c.RemoteAddr().String())
			w.state = stDone
			c.Close(errHandshakeTimeout)
		}
		return
	case stClosing:
		c.Close(errCloseTimeout) // the timer fires only at the close deadline
		return
	case stDone:
		return
	}
	if w.sess != nil && w.identityTimer(now) {
		return
	}
	w.tlsTimer(now)
	last := c.LastRead()
	if d := s.opts.IdleTimeout; d > 0 && now-last >= int64(d) {
		s.m.Timeouts.WithLabelValues("idle").Inc()
		w.closeWith(codec.CloseGoingAway, "idle timeout", now+int64(s.opts.CloseTimeout))
		return
	}
	if d, at := s.opts.ReadTimeout, w.readStarted(); d > 0 && at != 0 && now-at >= int64(d) {
		s.m.Timeouts.WithLabelValues("read").Inc()
		w.fail(codec.ClosePolicyViolation, "read timeout")
		return
	}
	if d := s.opts.PingInterval; d > 0 && now-last >= int64(d) && (w.pingAt == 0 || now-when(w.pingAt, now) >= int64(d)) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(now))
		if w.writeMessage(codec.OpPing, b[:]) == nil {
			w.pingAt = stamp(now)
			s.m.PingsSent.Inc()
		}
	}
	w.rearm(now)
}

// rearm sets the connection's single timer to its next deadline: the
// earliest of the next ping, the idle timeout and the read timeout.
func (w *wsConn) rearm(now int64) {
	o := &w.srv().opts
	last := w.conn().LastRead()
	next := int64(0)
	earliest := func(at int64) {
		if at > 0 && (next == 0 || at < next) {
			next = at
		}
	}
	if o.IdleTimeout > 0 {
		earliest(last + int64(o.IdleTimeout))
	}
	if d := int64(o.PingInterval); d > 0 {
		earliest(max(last, when(w.pingAt, now)) + d)
	}
	if started := w.readStarted(); o.ReadTimeout > 0 && started != 0 {
		earliest(started + int64(o.ReadTimeout))
	}
	if w.sess != nil { // identity: the connect deadline and the token's end
		earliest(w.connectDeadline(now))
		earliest(w.identityEnd(now))
	}
	earliest(w.tlsDeadline(now))
	if next != 0 && next <= now {
		next = now + 1
	}
	w.conn().SetTimer(next)
}
