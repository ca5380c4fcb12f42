package tlsconn

import (
	"errors"
	"fmt"
	"io"

	"github.com/wsedge/wsedge/poller"
	"github.com/wsedge/wsedge/tlsrecord"
)

// The compact record layer (package tlsrecord) after a TLS 1.3 handshake.
// Reads: records are opened in place in the loop's read buffer and their
// plaintext handed up from there; a partial record stays with the poller,
// like a partial frame on a plain connection. Writes: records are sealed
// straight into the poller connection's queue, under its lock, so they are
// queued in sequence-number order whoever writes.

// open decrypts the complete records at the start of buf (in place) and
// hands their plaintext up; it returns how much of buf it consumed.
func (t *Conn) open(buf []byte) (int, error) {
	n, consumed, err := t.rec.Open(buf)
	if uerr := t.deliver(buf[:n]); uerr != nil {
		return len(buf), uerr
	}
	if t.Closed() {
		return len(buf), nil
	}
	if err != nil {
		return len(buf), t.readFailed(err)
	}
	t.answerKeyUpdate()
	return consumed, nil
}

// openHeld is open for ciphertext the layer holds itself (what crypto/tls
// left at the switch), followed by buf; it keeps what is left of a record.
func (t *Conn) openHeld(buf []byte) error {
	if t.in == nil {
		if len(buf) == 0 {
			return nil
		}
		t.in = t.cfg.pool.Get()
	}
	t.in.B = append(t.in.B, buf...)
	n, consumed, err := t.rec.Open(t.in.B)
	if uerr := t.deliver(t.in.B[:n]); uerr != nil {
		return uerr
	}
	if t.Closed() {
		return nil
	}
	if t.in.B = t.in.B[:copy(t.in.B, t.in.B[consumed:])]; len(t.in.B) == 0 {
		// From now on the poller keeps partial records.
		t.releaseIn()
	}
	if err != nil {
		return t.readFailed(err)
	}
	t.answerKeyUpdate()
	return nil
}

// answerKeyUpdate queues the KeyUpdate the peer asked for, even when there
// is no data to send (RFC 8446 4.6.3); the loop flushes after the read.
func (t *Conn) answerKeyUpdate() {
	if t.rec.Pending() {
		rec := t.rec
		err := t.Conn.WriteWith(tlsrecord.SealedLen(0), false, func(dst []byte) ([]byte, error) {
			return rec.SealPending(dst)
		})
		t.sealFailed(err)
	}
}

// readFailed ends the read side. The peer's close_notify is answered with
// ours after whatever is queued, and the connection ends once that is
// written; a protocol violation gets the alert it calls for, then the
// connection closes.
func (t *Conn) readFailed(err error) error {
	rec := t.rec
	if errors.Is(err, io.EOF) {
		_ = t.Conn.WriteWith(tlsrecord.AlertLen, true, func(dst []byte) ([]byte, error) {
			return rec.SealClose(dst)
		})
		t.Conn.CloseAfterFlush(false)
		return nil
	}
	var e *tlsrecord.Error
	if errors.As(err, &e) && !e.Remote {
		_ = t.Conn.WriteWith(tlsrecord.AlertLen, true, func(dst []byte) ([]byte, error) {
			return rec.SealError(dst, err), nil
		})
		_ = t.Conn.Flush() // best effort: the connection closes now
	}
	return fmt.Errorf("tls: %w", err)
}

// writeCompact seals a and b into the queue; with final, close_notify
// follows them and nothing can be queued after.
func (t *Conn) writeCompact(final bool, a, b []byte) error {
	rec := t.rec
	n := tlsrecord.SealedLen(len(a) + len(b))
	if final {
		n += tlsrecord.AlertLen
	}
	err := t.Conn.WriteWith(n, final, func(dst []byte) ([]byte, error) {
		out, err := rec.Seal2(dst, a, b)
		if err == nil && final {
			out, err = rec.SealClose(out)
		}
		return out, err
	})
	t.sealFailed(err)
	return err
}

// sealFailed closes the connection when the record layer itself refused to
// seal: its write side is closed, so nothing more can reach the peer.
// (The poller's own refusals close the connection already, or leave it to
// end after its final bytes.)
func (t *Conn) sealFailed(err error) {
	if err == nil || errors.Is(err, poller.ErrClosed) || errors.Is(err, poller.ErrSlowConsumer) {
		return
	}
	t.Conn.Close(fmt.Errorf("tls: %w", err))
}

// IdleDeadline is the loop time at which IdleTimer should run next, or 0
// when nothing is to be dropped (no cipher state held, dropping is off, or
// the connection is not on the compact layer). Loop only.
func (t *Conn) IdleDeadline(now int64) int64 {
	if t.rec == nil || t.cfg.idle <= 0 {
		return 0
	}
	if t.idleAt == 0 {
		if !t.rec.Held() {
			return 0
		}
		t.idleAt = now + int64(t.cfg.idle)
	}
	return t.idleAt
}

// IdleTimer drops the cipher state of each direction unused since the
// previous drop check, once its deadline has come: a connection quiet for
// the configured period keeps only secrets and sequence numbers (it is
// dropped after one to two periods of silence). It reports whether it
// dropped anything. Loop only.
func (t *Conn) IdleTimer(now int64) (dropped bool) {
	if t.rec == nil || t.idleAt == 0 || now < t.idleAt {
		return false
	}
	t.idleAt = 0
	dropped, held := t.rec.Idle()
	if held {
		t.idleAt = now + int64(t.cfg.idle)
	}
	return dropped
}

// CipherHeld reports whether the connection holds derived cipher state (a
// compact connection that was not quiet long enough, or any crypto/tls
// one). Loop only.
func (t *Conn) CipherHeld() bool { return t.rec == nil || t.rec.Held() }
