package tlsconn

import (
	"errors"
	"fmt"
	"io"

	"github.com/valyala/bytebufferpool"

	"github.com/wsedge/wsedge/poller"
)

// crypto/tls end to end (TLS 1.2, or -tls-record-layer stdlib): the same
// tls.Conn that ran the handshake, over the same in-memory transport. Reads
// do not block: a "would block" from the transport is a temporary
// net.Error, which crypto/tls keeps no state about. crypto/tls writes its
// records through the transport into the poller's queue under its own
// write lock, which orders them.

// openStdlib feeds ciphertext to crypto/tls and hands up what it decrypts.
func (t *Conn) openStdlib(cipher []byte) error {
	hs := t.hs
	hs.tr.feed(cipher)
	for {
		if t.plain == nil {
			t.plain = t.cfg.pool.Get()
		}
		p := t.plain
		if cap(p.B)-len(p.B) < minRoom {
			// Grow with what has arrived: a quarter more, or one record.
			nb := make([]byte, len(p.B), len(p.B)+max(len(p.B)/4, recordRoom))
			copy(nb, p.B)
			p.B = nb
		}
		n, err := hs.tc.Read(p.B[len(p.B):cap(p.B)])
		p.B = p.B[:len(p.B)+n]
		if err == nil {
			continue
		}
		if len(p.B) == 0 {
			t.releasePlain()
		}
		if !errors.Is(err, errWouldBlock) {
			return t.stdlibReadFailed(err)
		}
		break
	}
	if t.plain == nil {
		return nil
	}
	// deliver would append the buffer to itself: hand it up directly.
	p := t.plain
	used, err := t.up.OnPlain(p.B)
	if err != nil || t.Closed() {
		return err
	}
	if p.B = p.B[:copy(p.B, p.B[used:])]; len(p.B) == 0 {
		t.releasePlain()
	}
	return nil
}

// minRoom is the least free space a crypto/tls Read gets (it copies out
// what fits and keeps the rest of a record for the next Read); recordRoom
// is how much a buffer grows by at least: one record's plaintext.
const (
	minRoom    = 4 << 10
	recordRoom = 16 << 10
)

// stdlibReadFailed: the peer's close_notify is answered with ours once the
// plaintext before it was handed up; anything else ends the connection.
func (t *Conn) stdlibReadFailed(err error) error {
	if p := t.plain; p != nil {
		used, uerr := t.up.OnPlain(p.B)
		if uerr != nil || t.Closed() {
			return uerr
		}
		if p.B = p.B[:copy(p.B, p.B[used:])]; len(p.B) == 0 {
			t.releasePlain()
		}
	}
	if errors.Is(err, io.EOF) {
		_ = t.hs.write(t.Conn, &t.cfg.pool, true, nil, nil)
		t.Conn.CloseAfterFlush(false)
		return nil
	}
	return fmt.Errorf("tls read: %w", err)
}

// write seals a and b through crypto/tls; with final, close_notify follows
// and nothing more is queued.
func (h *handshake) write(c *poller.Conn, pool *bytebufferpool.Pool, final bool, a, b []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.final {
		return poller.ErrClosed
	}
	if len(b) > 0 && len(a)+len(b) <= 4<<10 {
		// Small: one record, not two.
		buf := pool.Get()
		buf.B = append(append(buf.B[:0], a...), b...)
		_, err := h.tc.Write(buf.B)
		pool.Put(buf)
		if err != nil {
			return err
		}
	} else {
		for _, p := range [2][]byte{a, b} {
			if len(p) == 0 {
				continue
			}
			if _, err := h.tc.Write(p); err != nil {
				return err
			}
		}
	}
	if !final {
		return nil
	}
	h.final = true
	_ = h.tc.CloseWrite()    // close_notify
	return c.WriteFinal(nil) // later records, alerts included, are refused
}
