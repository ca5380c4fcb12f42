package server

import (
	"encoding/binary"
	"time"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/limits"
)

// The WebSocket side of a connection: messages and control frames from
// the codec, and the close handshake.

// OnMessage receives a complete data message (codec.Handler).
func (w *wsConn) OnMessage(op codec.OpCode, p []byte) error {
	s := w.srv()
	if w.x != nil {
		w.x.msgAt = 0 // a fragmented message, if this was one, is complete
	}
	s.stats[w.conn().LoopID()].msgsIn++
	if w.state != stOpen || s.draining.Load() && !s.state.spreading.Load() {
		// Closing: data is no longer processed. (During a drain, only
		// while the worker queue runs dry: connections waiting for their
		// turn in the spread are served.)
		return nil
	}
	if s.msgRate.PerSecond > 0 {
		switch w.spill().msg.Check(w.conn().Now(), &s.msgRate) {
		case limits.VerdictRateLimited:
			if w.ep == epWS {
				w.rateLimited(p)
			}
			return nil
		case limits.VerdictClose:
			if w.ep == epWS {
				w.rateClose()
				return nil
			}
			w.fail(codec.ClosePolicyViolation, "message rate limit exceeded")
			return errStop
		}
	}
	if w.ep == epEcho {
		w.sendOnLoop(op, p)
		return nil
	}
	if w.flags&fFirst != 0 {
		if handled, err := w.first(op, p); handled {
			return err
		}
	}
	w.dispatch(op, p)
	return nil
}

// sendOnLoop queues a message from the loop itself, counting it in the
// loop's stats. A failure needs no handling here: a slow consumer is being
// closed (and counted once, in OnClose).
func (w *wsConn) sendOnLoop(op codec.OpCode, p []byte) {
	st := &w.srv().stats[w.conn().LoopID()]
	if n, err := w.writeData(op, p, st); err == nil {
		st.msgsOut++
		st.bytesOut += uint64(n)
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
	w.srv().m.PongsReceived.Inc()
	if len(p) == 8 && w.pingAt != 0 {
		// The payload is the ping's time to the nanosecond; pingAt its stamp.
		if sent := int64(binary.BigEndian.Uint64(p)); stamp(sent) == w.pingAt {
			w.srv().m.PingRTT.Observe(time.Duration(w.conn().Now() - sent).Seconds())
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
	w.conn().SetTimer(0)
	w.conn().CloseAfterFlush(false) // the handshake is complete: the peer sends nothing more
	return errStop
}

// sendClose queues a close frame after what is already queued, as the
// connection's last bytes: from then on every write, from the loop or a
// worker, fails (RFC 6455 5.5.1: no data after a close frame). Only the
// first close frame is sent and counted.
func (w *wsConn) sendClose(code codec.CloseCode, reason string) {
	var b [128]byte
	if w.out().WriteFinal(codec.AppendClose(b[:0], code, reason)) == nil {
		w.srv().m.CloseCode(uint16(code))
	}
}

// fail ends the connection after a violation: the close frame, then TCP.
func (w *wsConn) fail(code codec.CloseCode, reason string) {
	if w.state == stDone {
		return
	}
	w.sendClose(code, reason)
	w.state = stDone
	w.conn().SetTimer(0)
	w.conn().CloseAfterFlush(true) // the peer may still be sending: let it read our close
	w.srv().log.Debug("connection failed", zap.Uint16("code", uint16(code)), zap.String("reason", reason), zap.String("peer", w.conn().RemoteAddr().String()))
}

// closeWith starts a close handshake: the peer has -close-timeout (or until
// deadline) to answer before the socket is closed anyway.
func (w *wsConn) closeWith(code codec.CloseCode, reason string, deadline int64) {
	if w.state != stOpen {
		return
	}
	w.sendClose(code, reason)
	w.state = stClosing
	w.conn().SetTimer(deadline)
	w.conn().Flush()
}
