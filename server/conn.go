package server

import (
	"encoding/binary"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/limits"
	"github.com/wsedge/wsedge/poller"
	"github.com/wsedge/wsedge/routing"
	"github.com/wsedge/wsedge/tlsconn"
)

type connState uint8

const (
	stHandshake connState = iota // waiting for the HTTP upgrade request
	stOpen                       // WebSocket open
	stClosing                    // we sent a close frame; waiting for the peer's
	stDone                       // answer sent (refusal or close reply); socket ending
)

var (
	errHandshakeTimeout = errors.New("handshake timeout")
	errCloseTimeout     = errors.New("close handshake timeout")
)

// wsConn is the WebSocket state of one connection. Its fields belong to the
// connection's loop goroutine. 112 bytes, a size class of its own (with the
// poller's 144-byte Conn, what an idle /echo connection costs on the heap):
// the small fields stay together at the end.
type wsConn struct {
	c    *poller.Conn
	srv  *Server
	tls  *tlsconn.Conn // nil on plain connections
	dec  codec.Decoder
	sess *routing.Session
	msg  *limits.MsgBucket // allocated on the first message when -msg-rate is on

	// since is the loop clock at accept while in stHandshake, and when the
	// partial frame now held started arriving (0: none) while open. The
	// close and handshake deadlines live in the poller's timer.
	since  int64
	msgAt  int64 // when the fragmented message in progress started (0: none)
	pingAt int64 // when the unanswered ping went out (0: none outstanding)

	ticket   limits.Ticket // the connection slots it holds, given back at close
	state    connState
	ep       endpoint
	upgraded bool
}

// OnOpen admits a new connection: draining, then (for peers not behind a
// trusted proxy) the per-IP rate and caps, before anything is read.
func (s *Server) OnOpen(c *poller.Conn) {
	now := c.Now()
	w := &wsConn{c: c, srv: s, since: now}
	c.SetContext(w)
	s.m.ConnectionsTotal.Inc()
	s.m.SocketsOpen.Inc()
	if s.draining.Load() {
		w.refuse(limits.ReasonDraining, 0)
		return
	}
	// Behind a trusted proxy the client is admitted once X-Forwarded-For
	// is read (upgrader.check); everyone else before a byte is read.
	if peer := c.RemoteAddr().Addr(); !s.trusted.Contains(peer) {
		t, r, retry := s.adm.Admit(peer, false)
		if r != limits.ReasonNone {
			w.refuse(r, retrySeconds(retry))
			return
		}
		w.ticket = t
	}
	if d := s.opts.HandshakeTimeout; d > 0 {
		c.SetTimer(now + int64(d))
	}
	if s.tlsConf != nil {
		w.startTLS()
	}
}

// OnData feeds the TLS layer, the handshake parser or the frame decoder.
func (s *Server) OnData(c *poller.Conn, buf []byte) (int, error) {
	w := c.Context().(*wsConn)
	if w.tls != nil {
		err := w.tls.Feed(buf)
		s.flushStats(c.LoopID())
		return len(buf), err
	}
	n, err := w.onPlain(buf)
	s.flushStats(c.LoopID())
	return n, err
}

// onPlain takes application bytes: the upgrade request, then frames. It
// returns how many it consumed; the rest is a partial frame. Loop only.
func (w *wsConn) onPlain(buf []byte) (int, error) {
	n := 0
	if w.state == stHandshake {
		n = w.handshake(buf)
		if w.state == stHandshake || n == len(buf) {
			return n, nil
		}
	}
	if w.state == stDone {
		return len(buf), nil
	}
	m, err := w.dec.Feed(buf[n:], w)
	n += m
	w.srv.stats[w.c.LoopID()].bytesIn += uint64(m)
	if err != nil {
		var pe *codec.Error
		if errors.As(err, &pe) {
			w.fail(pe.Code, pe.Reason)
			return len(buf), nil
		}
		if err == errStop {
			return len(buf), nil
		}
		return n, err
	}
	// The read timeout runs from the moment the unfinished frame, or the
	// fragmented message, began to arrive. A frame left over after complete
	// ones (m > 0) began in this read, not when an earlier leftover did.
	if w.dec.InMessage() && w.msgAt == 0 {
		w.msgAt = w.c.LastRead()
	}
	switch {
	case n == len(buf):
		w.since = 0
	case m > 0 || w.since == 0:
		w.since = w.c.LastRead()
	}
	if rt := w.srv.opts.ReadTimeout; rt > 0 {
		if started := w.readStarted(); started != 0 {
			if at := started + int64(rt); w.c.Timer() == 0 || at < w.c.Timer() {
				w.c.SetTimer(at)
			}
		}
	}
	return n, nil
}

// readStarted is when the input the read timeout waits on began to arrive:
// the earlier of the unfinished frame and the fragmented message, 0 if none.
func (w *wsConn) readStarted() int64 {
	switch {
	case w.since == 0:
		return w.msgAt
	case w.msgAt == 0:
		return w.since
	}
	return min(w.since, w.msgAt)
}

// errStop ends a Feed after the connection was closed from a callback.
var errStop = errors.New("stop")

// handshake consumes the upgrade request once it is complete.
func (w *wsConn) handshake(buf []byte) int {
	s := w.srv
	end := headEnd(buf)
	if end < 0 {
		switch {
		case len(buf) > s.opts.MaxHeaderBytes:
			w.refuse(limits.ReasonBadRequest, 0)
		case !looksLikeHTTP(buf):
			w.refuse(limits.ReasonBadRequest, 0)
		}
		return len(buf) * boolInt(w.state == stDone)
	}
	if end > s.opts.MaxHeaderBytes { // the whole head came in one read
		w.refuse(limits.ReasonBadRequest, 0)
		return len(buf)
	}
	h, ok := parseHead(buf[:end])
	switch {
	case !ok:
		w.refuse(limits.ReasonBadRequest, 0)
		return len(buf)
	case string(h.path) == "/health" && string(h.method) == "GET":
		status, body := s.Health()
		w.answer(appendHTTPResponse(nil, status, "application/json", body))
		return len(buf)
	case string(h.path) == s.opts.Path:
		w.ep = epWS
	case s.opts.EchoPath != "" && string(h.path) == s.opts.EchoPath:
		w.ep = epEcho
	default:
		w.refuse(limits.ReasonNotFound, 0)
		return len(buf)
	}
	if !h.upgrade && string(h.method) == "GET" {
		w.refuse(limits.ReasonNotWebSocket, 0)
		return len(buf)
	}
	up := s.ups[w.c.LoopID()]
	resp, reason, client, ticket := up.upgrade(buf[:end], w.c.RemoteAddr().Addr(), s.opts.TLSCert != "")
	if ticket.Held() { // a client behind a trusted proxy, admitted now
		w.ticket = ticket
	}
	if reason != limits.ReasonNone {
		s.refused(reason, w.c.RemoteAddr().String())
		w.answer(resp)
		return len(buf)
	}
	if err := w.out().Write(resp); err != nil {
		w.state = stDone
		return len(buf)
	}
	w.state = stOpen
	w.upgraded = true
	w.dec.Init(&s.codec)
	s.open.Add(1)
	s.m.ConnectionsActive.Inc()
	now := w.c.Now()
	s.m.Handshake.Observe(time.Duration(now - w.since).Seconds())
	w.since = 0
	if w.ep == epWS {
		w.sess = s.router.Open(w, client)
	}
	w.rearm(now)
	return end
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// refuse answers with the refusal's plain HTTP response and ends the
// connection. Before a TLS handshake there is no way to answer in HTTP, and
// doing a handshake just to refuse would spend CPU exactly under a flood, so
// such connections are closed without an answer.
func (w *wsConn) refuse(r limits.Reason, retryAfter int) {
	w.srv.refused(r, w.c.RemoteAddr().String())
	if w.srv.tlsConf != nil && (w.tls == nil || !w.tls.Ready()) {
		w.state = stDone
		w.c.SetTimer(0)
		w.c.Close(nil)
		return
	}
	w.answer(appendRefusal(nil, r, retryAfter))
}

// answer sends a final HTTP response and half-closes after it.
func (w *wsConn) answer(resp []byte) {
	w.state = stDone
	_ = w.out().WriteFinal(resp)
	w.c.SetTimer(0)
	w.c.CloseAfterFlush(true) // the client may still be sending its request
}

// OnMessage receives a complete data message (codec.Handler).
func (w *wsConn) OnMessage(op codec.OpCode, p []byte) error {
	s := w.srv
	w.msgAt = 0 // a fragmented message, if this was one, is complete
	s.stats[w.c.LoopID()].msgsIn++
	if w.state != stOpen || s.draining.Load() {
		return nil // closing: data is no longer processed
	}
	if s.msgRate.PerSecond > 0 {
		if w.msg == nil {
			w.msg = new(limits.MsgBucket)
		}
		switch w.msg.Check(w.c.Now(), &s.msgRate) {
		case limits.VerdictRateLimited:
			if w.ep == epWS {
				w.rateLimited(p)
			}
			return nil
		case limits.VerdictClose:
			w.fail(codec.ClosePolicyViolation, "message rate limit exceeded")
			return errStop
		}
	}
	if w.ep == epEcho {
		w.sendOnLoop(op, p)
		return nil
	}
	if op != codec.OpText {
		w.fail(codec.CloseUnsupportedData, "binary messages are not supported on this endpoint")
		return errStop
	}
	w.dispatch(op, p)
	return nil
}

// sendOnLoop queues a message from the loop itself, counting it in the
// loop's stats. A failure needs no handling here: a slow consumer is being
// closed (and counted once, in OnClose).
func (w *wsConn) sendOnLoop(op codec.OpCode, p []byte) {
	if w.writeMessage(op, p) == nil {
		st := &w.srv.stats[w.c.LoopID()]
		st.msgsOut++
		st.bytesOut += uint64(codec.FrameSize(len(p)))
	}
}

// OnPing answers with a pong carrying the same payload.
func (w *wsConn) OnPing(p []byte) error {
	if w.state == stOpen {
		_ = w.writeMessage(codec.OpPong, p)
	}
	return nil
}

// OnPong records the heartbeat's round trip when it answers our ping.
func (w *wsConn) OnPong(p []byte) error {
	w.srv.m.PongsReceived.Inc()
	if len(p) == 8 && w.pingAt != 0 {
		if sent := int64(binary.BigEndian.Uint64(p)); sent == w.pingAt {
			w.srv.m.PingRTT.Observe(time.Duration(w.c.Now() - sent).Seconds())
		}
		w.pingAt = 0
	}
	return nil
}

// OnClose completes the close handshake: an answer to the peer's close, or
// the end of the one we started. Either way the server then closes TCP.
func (w *wsConn) OnClose(code codec.CloseCode, reason []byte) error {
	if w.state == stOpen {
		if code == codec.CloseNoStatus {
			code = codec.CloseNormal
		}
		w.sendClose(code, "")
	}
	w.state = stDone
	w.c.SetTimer(0)
	w.c.CloseAfterFlush(false) // the handshake is complete: the peer sends nothing more
	return errStop
}

// sendClose queues a close frame after what is already queued, as the
// connection's last bytes: from then on every write, from the loop or a
// worker, fails (RFC 6455 5.5.1: no data after a close frame). Only the
// first close frame is sent and counted.
func (w *wsConn) sendClose(code codec.CloseCode, reason string) {
	var b [128]byte
	if w.out().WriteFinal(codec.AppendClose(b[:0], code, reason)) == nil {
		w.srv.m.CloseCode(uint16(code))
	}
}

// fail ends the connection after a violation: the close frame, then TCP.
func (w *wsConn) fail(code codec.CloseCode, reason string) {
	if w.state == stDone {
		return
	}
	w.sendClose(code, reason)
	w.state = stDone
	w.c.SetTimer(0)
	w.c.CloseAfterFlush(true) // the peer may still be sending: let it read our close
	w.srv.log.Debug("connection failed", zap.Uint16("code", uint16(code)), zap.String("reason", reason), zap.String("peer", w.c.RemoteAddr().String()))
}

// closeWith starts a close handshake: the peer has -close-timeout (or until
// deadline) to answer before the socket is closed anyway.
func (w *wsConn) closeWith(code codec.CloseCode, reason string, deadline int64) {
	if w.state != stOpen {
		return
	}
	w.sendClose(code, reason)
	w.state = stClosing
	w.c.SetTimer(deadline)
	w.c.Flush()
}

// drain is the shutdown path for one connection. Loop only.
func (w *wsConn) drain(deadline int64) {
	switch w.state {
	case stHandshake:
		w.refuse(limits.ReasonDraining, 0)
	case stOpen:
		w.closeWith(codec.CloseGoingAway, "server shutting down", deadline)
	}
}

// OnTimer enforces the handshake, idle and read timeouts and sends pings.
func (s *Server) OnTimer(c *poller.Conn, now int64) {
	w := c.Context().(*wsConn)
	switch w.state {
	case stHandshake:
		if d := s.opts.HandshakeTimeout; d > 0 && now-w.since >= int64(d) {
			s.m.Timeouts.WithLabelValues("handshake").Inc()
			s.refused(limits.ReasonHandshakeTimeout, c.RemoteAddr().String())
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
	if d := s.opts.PingInterval; d > 0 && now-last >= int64(d) && (w.pingAt == 0 || now-w.pingAt >= int64(d)) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(now))
		if w.writeMessage(codec.OpPing, b[:]) == nil {
			w.pingAt = now
			s.m.PingsSent.Inc()
		}
	}
	w.rearm(now)
}

// rearm sets the connection's single timer to its next deadline: the
// earliest of the next ping, the idle timeout and the read timeout.
func (w *wsConn) rearm(now int64) {
	o := &w.srv.opts
	last := w.c.LastRead()
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
		earliest(max(last, w.pingAt) + d)
	}
	if started := w.readStarted(); o.ReadTimeout > 0 && started != 0 {
		earliest(started + int64(o.ReadTimeout))
	}
	if next != 0 && next <= now {
		next = now + 1
	}
	w.c.SetTimer(next)
}

// OnClose releases everything the connection held, exactly once.
func (s *Server) OnClose(c *poller.Conn, err error) {
	w, ok := c.Context().(*wsConn)
	if !ok {
		return
	}
	s.m.SocketsOpen.Dec()
	s.adm.Release(&w.ticket)
	if w.sess != nil {
		s.router.Closed(w.sess)
		w.sess = nil
	}
	w.dec.Reset()
	if w.tls != nil {
		w.tls.Release()
	}
	if errors.Is(err, poller.ErrSlowConsumer) {
		s.m.SlowConsumers.Inc()
	}
	if errors.Is(err, poller.ErrWriteTimeout) {
		s.m.Timeouts.WithLabelValues("write").Inc()
	}
	if w.upgraded {
		s.open.Add(-1)
		s.m.ConnectionsActive.Dec()
		// Sampled by the logger (per message: the first 100 a second, then
		// 1 in 100), so a mass disconnect does not flood the log.
		if ce := s.log.Check(zap.InfoLevel, "connection closed"); ce != nil {
			cause := "closed"
			if err != nil {
				cause = err.Error()
			}
			ce.Write(zap.String("peer", c.RemoteAddr().String()), zap.String("cause", cause))
		}
	}
}

// byteConn is the byte API a connection writes through: a plain poller
// connection, or the TLS layer on top of one.
type byteConn interface {
	Write(b []byte) error
	Write2(a, b []byte) error
	WriteShared(b []byte) error
	WriteFinal(b []byte) error
	Flush() error
	FlushSoon()
	CloseAfterFlush(waitPeer bool)
}

var (
	_ byteConn = (*poller.Conn)(nil)
	_ byteConn = (*tlsconn.Conn)(nil)
)

// out is where the connection's bytes go.
func (w *wsConn) out() byteConn {
	if w.tls != nil {
		return w.tls
	}
	return w.c
}

// writeMessage queues p as one final, unmasked frame of type op: the header
// and a copy of p in one step. (The plain path calls the poller directly so
// the header stays on the stack: 0 allocations per message.)
func (w *wsConn) writeMessage(op codec.OpCode, p []byte) error {
	if w.tls != nil {
		return w.writeMessageTLS(op, p)
	}
	var h [14]byte
	return w.c.Write2(codec.AppendHeader(h[:0], op, true, len(p)), p)
}

func (w *wsConn) writeMessageTLS(op codec.OpCode, p []byte) error {
	var h [14]byte
	return w.tls.Write2(codec.AppendHeader(h[:0], op, true, len(p)), p)
}
