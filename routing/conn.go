package routing

import (
	"errors"
	"net/netip"

	"github.com/wsedge/wsedge/codec"
)

// Conn is what routing needs from a client connection: a way to send whole text messages and
// to close. The WebSocket layer (the server's connection) implements it and does all framing;
// routing only ever hands it payloads. Every method must be safe for concurrent use (workers
// reply and publishers fan out while the event loop reads the same connection) and none may
// block on the network.
type Conn interface {
	// Send queues payload as one text message; payload is copied and may be reused on return.
	// An error means the connection is closing or closed (a slow consumer over its write queue
	// bound included): routing drops the message and treats the connection as gone.
	Send(payload []byte) error

	// SendPrepared queues m, a message shared by many connections, by reference: the first
	// connection to need its frame encodes it (m.Frame), once per node. It fails like Send.
	SendPrepared(m *codec.Prepared) error

	// Flush writes everything queued with one syscall (writev). It never blocks: what the
	// socket cannot take stays queued for the event loop.
	Flush() error

	// FlushSoon asks the connection's event loop to flush it, instead of writing on the
	// caller's goroutine: a fan-out then costs the publisher a queue append per subscriber
	// while the loops make the write calls in parallel.
	FlushSoon()

	// Close starts the closing handshake with code and reason, after what is already queued.
	Close(code codec.CloseCode, reason string)

	// RemoteIP is the client address the connection is attributed to: its peer, or the client
	// a trusted proxy named. Session.RemoteIP asks the connection, so no session keeps a copy
	// (16 bytes of every idle session, issue 19).
	RemoteIP() netip.Addr
}

// ErrConnClosed is returned by a Context's reply methods when the connection is closing or
// closed: the reply is dropped. It is not a server error: a handler may return it as is, and
// the router then logs nothing above debug level and attempts no error reply.
var ErrConnClosed = errors.New("routing: connection closed")
