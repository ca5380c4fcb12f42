// Package tlsconn is the TLS layer between the poller and the WebSocket
// connection. The poller knows nothing of it: a Conn takes the ciphertext
// the loop reads (Feed), hands the plaintext to the layer above (Upper), and
// presents upward the same byte API as a plain poller connection (Write,
// Write2, WriteShared, WriteFinal, Flush, FlushSoon, CloseAfterFlush,
// Close), sealing what is written into records queued on the poller
// connection.
//
// The handshake runs in crypto/tls, over an in-memory transport: crypto/tls
// cannot resume a handshake after "would block", so it runs in a goroutine
// that waits for the ciphertext the loop feeds and ends with the handshake;
// an idle connection holds no goroutine. After it, record protection sits
// behind the Records interface. Today's Records is crypto/tls itself
// (non-blocking reads: a "would block" is a temporary error, which crypto/tls
// keeps no state about); a record layer of our own (package tlsrecord) is
// meant to replace it there, built from the finished handshake, without
// touching the rest of this package or its callers.
package tlsconn
