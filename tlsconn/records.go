package tlsconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
)

// Records protects application data once the handshake is done. It is the
// seam for a record layer of our own: an implementation gets the keys from
// the handshake and writes its records to the poller connection.
type Records interface {
	// Seal protects p and queues the records on the connection, in order
	// with every other record it queues. p may be reused on return.
	Seal(p []byte) error
	// Open takes ciphertext read from the socket and appends the plaintext
	// of every complete record to dst; a partial record stays inside until
	// the next call. io.EOF means the peer closed the TLS session.
	Open(dst, cipher []byte) ([]byte, error)
	// Close releases what it holds.
	Close()
}

// stdRecords is crypto/tls after its handshake, over the same transport.
type stdRecords struct {
	tc *tls.Conn
	tr *transport
}

func (r *stdRecords) Seal(p []byte) error {
	_, err := r.tc.Write(p) // the transport queues the records under crypto/tls's write lock
	return err
}

// openRoom is the free space Open keeps in dst for one read: crypto/tls
// returns at most one record's plaintext (16 KiB) per Read.
const openRoom = 16 << 10

func (r *stdRecords) Open(dst, cipher []byte) ([]byte, error) {
	r.tr.feed(cipher)
	for {
		if cap(dst)-len(dst) < openRoom {
			// Grow with what has arrived: a quarter more, or one record.
			nb := make([]byte, len(dst), len(dst)+max(len(dst)/4, 2*openRoom))
			copy(nb, dst)
			dst = nb
		}
		n, err := r.tc.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		switch {
		case err == nil:
		case errors.Is(err, errWouldBlock):
			return dst, nil
		case errors.Is(err, io.EOF):
			return dst, io.EOF
		default:
			return dst, fmt.Errorf("tls read: %w", err)
		}
	}
}

func (r *stdRecords) Close() { r.tr.Close() }
