package server

import (
	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

// The routing side of a connection: how messages reach the router, and how
// the server connection implements routing.Conn for handlers on the worker
// pool.

// dispatch hands a complete text message on /ws to the router. Loop only.
func (w *wsConn) dispatch(op codec.OpCode, p []byte) {
	w.srv.router.Dispatch(w.sess, op, p)
}

// rateLimited answers a message dropped by -msg-rate. Loop only.
func (w *wsConn) rateLimited(p []byte) {
	// Rare path: decode only to echo the request's id.
	var m routing.Message
	m.Decode(p)
	w.sendOnLoop(codec.OpText, routing.AppendError(nil, m.ID, routing.CodeRateLimited, "message rate limit exceeded"))
}

// The routing.Conn side, used by handlers on the worker pool.

// WriteMessage queues a message for the client.
func (w *wsConn) WriteMessage(op codec.OpCode, p []byte) error {
	err := w.writeMessage(op, p)
	if err == nil {
		w.srv.m.MessagesSent.Inc()
		w.srv.m.BytesSent.Add(float64(codec.FrameSize(len(p))))
	}
	return err
}

// WriteFrame queues a shared, encoded frame (a broadcast).
func (w *wsConn) WriteFrame(frame []byte) error {
	err := w.out().WriteShared(frame)
	if err == nil {
		w.srv.m.MessagesSent.Inc()
		w.srv.m.BytesSent.Add(float64(len(frame)))
	}
	return err
}

// Flush writes what is queued.
func (w *wsConn) Flush() error { return w.out().Flush() }

// FlushSoon leaves the write to the connection's loop (broadcast fan-out).
func (w *wsConn) FlushSoon() { w.out().FlushSoon() }

// Close closes the connection with code (from any goroutine).
func (w *wsConn) Close(code codec.CloseCode, reason string) {
	w.c.Do(func() {
		if !w.c.Closed() {
			w.fail(code, reason)
		}
	})
}
