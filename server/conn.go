package server

import (
	"errors"

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
// connection's loop goroutine. It is the poller's state of the connection
// (poller.NewFor): allocated with the poller's 96-byte Conn, right after
// it, 48 bytes that make the pair 144, a size class (what an idle /echo
// connection costs on the heap). So neither points to the other (conn), the
// small fields stay together at the end, the server is found through the
// poller, the decoder (16 bytes) is given the server's codec Config per call,
// times are 32-bit stamps and rare state goes to the spill.
type wsConn struct {
	dec  codec.Decoder
	sess *routing.Session
	x    *wsSpill // what few connections need: nil on a plain node without -msg-rate

	// While open, since is when the partial frame now held started
	// arriving and pingAt when the unanswered ping went out, as stamps (0:
	// none); during the handshake the two hold the accept time to the
	// nanosecond (accepted). The close and handshake deadlines live in the
	// poller's timer.
	since  poller.Stamp
	pingAt poller.Stamp

	ticket limits.Ticket // the connection slots it holds, given back at close
	state  connState
	ep     endpoint
	// up: bit 0 once upgraded; the high four bits the server window
	// permessage-deflate agreed (8..15), 0 without the extension: all the
	// write side needs (compression.go). Both are written on the loop before
	// the connection is visible to workers, which read the window; one byte
	// keeps wsConn at 48 bytes.
	up    uint8
	flags uint8 // identity: fHold, fFirst, fNeedID (upgrade_auth.go); loop only
}

// setAccepted keeps t, the loop time of the accept, for the handshake's
// timeout and its duration (a histogram from 100 µs): while in stHandshake
// since and pingAt are its low and high halves.
func (w *wsConn) setAccepted(t int64) {
	w.since, w.pingAt = poller.Stamp(uint64(t)), poller.Stamp(uint64(t)>>32)
}

// accepted is the time given to setAccepted. stHandshake only.
func (w *wsConn) accepted() int64 { return int64(uint64(w.since) | uint64(w.pingAt)<<32) }

// stamp is t as a stamp for since and pingAt, where 0 is none: the one stamp
// that would be 0 reads as the unit before it.
func stamp(t int64) poller.Stamp {
	if s := poller.StampOf(t); s != 0 {
		return s
	}
	return ^poller.Stamp(0)
}

// when is the time a stamp of since or pingAt names (at or before now); 0 for none.
func when(s poller.Stamp, now int64) int64 {
	if s == 0 {
		return 0
	}
	return s.Before(now)
}

// conn is the poller's connection: wsConn is its state (poller.State).
func (w *wsConn) conn() *poller.Conn { return poller.ConnOf(w) }

// srv is the server the connection belongs to: the poller's handler, so
// that no connection spends a pointer on it (issue 19: wsConn stays at 48
// bytes, the Conn and it 144).
func (w *wsConn) srv() *Server { return w.conn().Handler().(*Server) }

// wsSpill is the state few connections need, in an object of its own so
// that wsConn stays at 48 bytes (with the Conn, the 144-byte class);
// allocated on first use and kept. A plain connection on a node without
// -msg-rate that never sends a fragmented message has none.
type wsSpill struct {
	tls   *tlsconn.Conn    // the TLS layer, from accept on a wss:// node
	msg   limits.MsgBucket // -msg-rate: from the first message
	msgAt int64            // when the fragmented message in progress started (0: none). Loop only.
}

// msgAt is when the fragmented message in progress started, 0 if none.
func (w *wsConn) msgAt() int64 {
	if w.x == nil {
		return 0
	}
	return w.x.msgAt
}

// spill returns w.x, allocating it on first use. Loop only.
func (w *wsConn) spill() *wsSpill {
	if w.x == nil {
		w.x = new(wsSpill)
	}
	return w.x
}

// tls is the connection's TLS layer, nil on plain connections. On a wss://
// node x is set at accept, before workers can see the connection; on a
// plain node workers never read it (the loop may set it on a first message
// meanwhile).
func (w *wsConn) tls() *tlsconn.Conn {
	if w.srv().tlsConf == nil || w.x == nil {
		return nil
	}
	return w.x.tls
}

// upgraded reports whether the connection completed its WebSocket upgrade.
func (w *wsConn) upgraded() bool { return w.up&1 != 0 }

// OnData feeds the TLS layer, the handshake parser or the frame decoder.
func (s *Server) OnData(c *poller.Conn, buf []byte) (int, error) {
	w := poller.State[wsConn](c)
	if w.tls() != nil {
		n, err := w.feedTLS(buf)
		s.flushStats(c.LoopID())
		return n, err
	}
	n, err := w.onPlain(buf)
	s.flushStats(c.LoopID())
	return n, err
}

// onPlain takes application bytes: the upgrade request, then frames. It
// returns how many it consumed; the rest is a partial frame. Loop only.
func (w *wsConn) onPlain(buf []byte) (int, error) {
	if w.flags&fHold != 0 {
		return w.held(buf), nil
	}
	n := 0
	for w.state == stHandshake { // several requests when files are asked for on one connection
		m := w.handshake(buf[n:])
		n += m
		if m == 0 || n == len(buf) {
			return n, nil
		}
		if w.flags&fHold != 0 { // the upgrade waits for its identity check, the rest with it
			return n + w.held(buf[n:]), nil
		}
	}
	if w.state == stDone {
		return len(buf), nil
	}
	s, c := w.srv(), w.conn()
	st := &s.stats[c.LoopID()]
	st.inRoom = cap(buf) - len(buf)
	m, err := w.dec.Feed(&s.codec, buf[n:], w)
	n += m
	st.bytesIn += uint64(m)
	if err != nil {
		var pe *codec.Error
		if errors.As(err, &pe) {
			w.fail(pe.Code, pe.Reason)
			return len(buf), nil
		}
		switch err {
		case errStop:
			return len(buf), nil
		case errHold: // the rest waits for the identity check
			w.since = 0
			return n, nil
		}
		return n, err
	}
	// The read timeout runs from the moment the unfinished frame, or the
	// fragmented message, began to arrive. A frame left over after complete
	// ones (m > 0) began in this read, not when an earlier leftover did.
	if w.dec.InMessage() && w.msgAt() == 0 {
		w.spill().msgAt = c.LastRead()
	}
	switch {
	case n == len(buf):
		w.since = 0
	case m > 0 || w.since == 0:
		w.since = stamp(c.LastRead())
	}
	if rt := s.opts.ReadTimeout; rt > 0 {
		if started := w.readStarted(); started != 0 {
			c.SetTimerBefore(started + int64(rt))
		}
	}
	return n, nil
}

// readStarted is when the input the read timeout waits on began to arrive:
// the earlier of the unfinished frame and the fragmented message, 0 if none.
func (w *wsConn) readStarted() int64 {
	msgAt := w.msgAt()
	if w.since == 0 {
		return msgAt
	}
	since := w.since.Before(w.conn().Now())
	if msgAt == 0 {
		return since
	}
	return min(since, msgAt)
}

// errStop ends a Feed after the connection was closed from a callback.
var errStop = errors.New("stop")

// OnClose releases everything the connection held, exactly once.
func (s *Server) OnClose(c *poller.Conn, err error) {
	w := poller.State[wsConn](c)
	s.m.SocketsOpen.Dec()
	s.adm.Release(&w.ticket)
	if w.sess != nil {
		s.router.Closed(w.sess)
		w.sess = nil
	}
	w.dec.Reset(&s.codec)
	if w.tls() != nil {
		w.tls().Release()
	}
	if errors.Is(err, poller.ErrSlowConsumer) {
		s.m.SlowConsumers.Inc()
	}
	if errors.Is(err, poller.ErrWriteTimeout) {
		s.m.Timeouts.WithLabelValues("write").Inc()
	}
	if w.upgraded() {
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

// lastFrame reports whether payload p ends where the input being decoded
// ends: the message is the read's last. A payload assembled or inflated
// elsewhere may pass by chance; that costs a write call, never order.
func lastFrame(p []byte, st *loopStats) bool {
	return len(p) > 0 && cap(p)-len(p) == st.inRoom
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
	if w.tls() != nil {
		return w.tls()
	}
	return w.conn()
}

// writeMessage queues p as one final, unmasked, uncompressed frame of type
// op (control frames; data messages go through writeData): the header and a
// copy of p in one step. (The plain path calls the poller directly so the
// header stays on the stack: 0 allocations per message.)
func (w *wsConn) writeMessage(op codec.OpCode, p []byte) error {
	if w.tls() != nil {
		return w.writeMessageTLS(op, p)
	}
	var h [14]byte
	return w.conn().Write2(codec.AppendHeader(h[:0], op, true, len(p)), p)
}

// sendMessage is writeMessage from the connection's loop, answering the
// last frame of a read (an echo): on a plain connection the frame goes to
// the socket at once when nothing is queued, without a copy (poller
// Send2). Answers to the frames before it are queued, so a read of many
// frames is still answered with one write. Loop only.
func (w *wsConn) sendMessage(op codec.OpCode, p []byte) error {
	if w.tls() != nil {
		return w.writeMessageTLS(op, p)
	}
	var h [14]byte
	return w.conn().Send2(codec.AppendHeader(h[:0], op, true, len(p)), p)
}

func (w *wsConn) writeMessageTLS(op codec.OpCode, p []byte) error {
	var h [14]byte
	return w.tls().Write2(codec.AppendHeader(h[:0], op, true, len(p)), p)
}
