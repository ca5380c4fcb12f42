// Package tlsrecord is a TLS 1.3 record layer for the traffic after a
// crypto/tls server handshake, built so an idle connection holds 144 bytes
// of TLS state instead of crypto/tls's ~7 KB: the two current traffic
// secrets, the two sequence numbers and a few flags. The AEAD and IV of a
// direction are derived (HKDF-Expand-Label) when data flows and dropped by
// Idle after a quiet period.
//
// crypto/tls runs the whole handshake. An Acceptor gives each TLS 1.3
// handshake a clone of the config whose KeyLogWriter belongs to that
// connection, which is how the application traffic secrets come out through
// a supported API; the connection's transport is wrapped so that crypto/tls
// reads whole records only, never past the client's Finished, and so that
// the records it wrote under the server application key (session tickets)
// can be counted by opening them. Handshake.Switch then returns a Conn
// positioned exactly where crypto/tls stopped, and cuts the *tls.Conn off
// the transport. TLS 1.2 connections stay on crypto/tls end to end.
//
// Use, per connection:
//
//	hs := acceptor.Server(transport)           // transport: what crypto/tls reads/writes ciphertext on
//	err := hs.TLS().HandshakeContext(ctx)      // in the handshake goroutine
//	rec, err := hs.Switch()                    // on the owner; ErrNotSwitched: keep using hs.TLS()
//	n, used, err := rec.Open(ciphertext)       // the owner's reader; plaintext in ciphertext[:n]
//	out, err = rec.Seal(out, plaintext)        // any goroutine, under the owner's output lock (Seal2: header + payload)
//	dropped, held := rec.Idle()                // every quiet period, from the reader
//
// Package tlsconn is the one user: it seals into the poller connection's
// queue under the queue's lock and calls Idle on the connection's timer.
//
// See docs/design.md (TLS) for the design and its security argument.
package tlsrecord
