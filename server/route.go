package server

import (
	"net/netip"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

// The routing side of a connection: how messages reach the router, and how
// the server connection implements routing.Conn for handlers on the worker
// pool and for publishers. Routing hands over payloads; this side frames
// them.

// dispatch hands a complete message on /ws to the router, which refuses a
// binary one with 1003 after the replies in flight. Loop only.
func (w *wsConn) dispatch(op codec.OpCode, p []byte) {
	w.srv().router.Dispatch(w.sess, op, p)
}

// rateLimited answers a message dropped by -msg-rate, in its place among the
// replies still to come (routing keeps the order). Loop only.
func (w *wsConn) rateLimited(p []byte) {
	w.srv().router.Refuse(w.sess, p, routing.CodeRateLimited, "message rate limit exceeded")
}

// rateClose closes a connection that keeps sending over -msg-rate with 1008,
// after the messages accepted before it are answered; later ones are
// dropped. Loop only.
func (w *wsConn) rateClose() {
	w.srv().router.CloseAfterReplies(w.sess, codec.ClosePolicyViolation, "message rate limit exceeded")
}

// Send queues one text message for the client (a reply).
func (w *wsConn) Send(p []byte) error {
	n, err := w.writeData(codec.OpText, p, nil)
	if err == nil {
		w.srv().m.MessagesSent.Inc()
		w.srv().m.BytesSent.Add(float64(n))
	}
	return err
}

// SendPrepared queues a message shared by many connections (a publication):
// its frame is encoded once per node, by whichever connection needs it first,
// and queued by reference; so is its compressed frame for connections with
// permessage-deflate.
func (w *wsConn) SendPrepared(m *codec.Prepared) error {
	if w.zbits() != 0 {
		if done, err := w.sendPreparedDeflate(m); done {
			return err
		}
	}
	frame := m.Frame()
	err := w.out().WriteShared(frame)
	if err == nil {
		w.srv().m.MessagesSent.Inc()
		w.srv().m.BytesSent.Add(float64(len(frame)))
	}
	return err
}

// RemoteIP is the client address the connection is attributed to: the
// peer, or the client a trusted proxy named (the poller keeps it; see
// opened).
func (w *wsConn) RemoteIP() netip.Addr { return w.conn().RemoteAddr().Addr() }

// Flush writes what is queued.
func (w *wsConn) Flush() error { return w.out().Flush() }

// FlushSoon leaves the write to the connection's loop (broadcast fan-out).
func (w *wsConn) FlushSoon() { w.out().FlushSoon() }

// Close closes the connection with code (from any goroutine), after what is
// queued. A drain's 1012 is a close handshake (the peer answers with its
// close frame, then the server closes TCP), not a failure.
func (w *wsConn) Close(code codec.CloseCode, reason string) {
	w.conn().Do(func() {
		switch {
		case w.conn().Closed():
		case code == closeServiceRestart:
			w.closeWith(code, reason, w.conn().Now()+int64(w.srv().opts.CloseTimeout))
		default:
			w.fail(code, reason)
		}
	})
}
