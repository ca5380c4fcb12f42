// Package tlsconn is the TLS layer between the poller and the WebSocket
// connection. The poller knows nothing of it: a Conn takes the ciphertext
// the loop reads (Feed, which like a poller handler's OnData consumes what
// it can and leaves a partial record to the poller), hands the plaintext to
// the layer above (Upper), and presents upward the same byte API as a plain
// poller connection (Write, Write2, WriteShared, WriteFinal, Flush,
// FlushSoon, CloseAfterFlush, Close).
//
// The handshake runs in crypto/tls, over an in-memory transport: crypto/tls
// cannot resume a handshake after "would block", so it runs in a goroutine
// that waits for the ciphertext the loop feeds and ends with the handshake;
// an idle connection holds no goroutine.
//
// After the handshake a Config's Layer decides who protects the records.
// Compact moves TLS 1.3 sessions to package tlsrecord: records are opened
// in place in the loop's read buffer and sealed straight into the poller
// connection's queue under its lock (poller.Conn.WriteWith), and cipher
// state unused for a while is dropped (IdleDeadline, IdleTimer), so an idle
// session keeps its traffic secrets and sequence numbers only. TLS 1.2
// sessions, and every session with Stdlib, stay on crypto/tls end to end
// over the same transport (non-blocking reads: a "would block" is a
// temporary error, which crypto/tls keeps no state about).
//
// See docs/design.md (TLS) for the design and its security argument.
package tlsconn
