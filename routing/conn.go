package routing

import "github.com/wsedge/wsedge/codec"

// Conn is what routing needs from a WebSocket connection; the poller's connection implements it.
// Every method must be safe for concurrent use: workers write replies and broadcasts while the
// event loop reads and writes the same connection. No method may block on the network.
type Conn interface {
	// WriteMessage encodes payload as one server-to-client frame of type op into the
	// connection's bounded write queue; payload is copied and may be reused on return. It fails
	// when the connection is closed or the queue would exceed its bound, in which case the
	// connection is being closed as a slow consumer.
	WriteMessage(op codec.OpCode, payload []byte) error

	// WriteFrame queues frame, an already-encoded frame, by reference: the same immutable bytes
	// are shared by every subscriber of a broadcast and must never be modified. It fails like
	// WriteMessage.
	WriteFrame(frame []byte) error

	// Flush writes everything queued with one syscall (writev). It never blocks: what the
	// socket cannot take stays queued for the event loop.
	Flush() error

	// FlushSoon asks the connection's event loop to flush it, instead of writing on the
	// caller's goroutine: a broadcast then costs the publisher a queue append per subscriber
	// while the loops make the write calls in parallel.
	FlushSoon()

	// Close starts the closing handshake with code and reason.
	Close(code codec.CloseCode, reason string)
}
