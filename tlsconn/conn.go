package tlsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/wsedge/wsedge/poller"
)

// ErrNotReady is returned by writes before the handshake has completed.
var ErrNotReady = errors.New("tlsconn: handshake not complete")

// Upper is the layer above TLS. Its methods run on the connection's loop.
type Upper interface {
	// OnPlain gets the unconsumed plaintext followed by what was just
	// decrypted and returns how much it consumed, like poller.Handler's
	// OnData; the rest is presented again with the next bytes.
	OnPlain(b []byte) (consumed int, err error)
	// OnHandshake reports the end of the handshake: nil when it succeeded
	// (OnPlain follows with anything the client already sent).
	OnHandshake(err error)
}

// Conn is a TLS server connection on a poller connection. The embedded
// *poller.Conn gives the loop-side methods (timers, address, Flush, Close)
// unchanged: records are queued there as soon as they are sealed.
type Conn struct {
	*poller.Conn
	up   Upper
	pool *bytebufferpool.Pool

	tr    transport
	tc    *tls.Conn
	ready bool    // loop only
	rec   Records // set on the loop when the handshake succeeded
	plain []byte  // decrypted, not yet consumed above; loop only

	mu    sync.Mutex // orders sealed writes against WriteFinal
	final bool
	open  bool // rec may be used by writers
}

// Server starts the TLS handshake of a new connection (loop only). The
// handshake goroutine ends with the handshake; it bounds itself by timeout
// when that is > 0 (otherwise the caller's own timer must close c).
func Server(c *poller.Conn, cfg *tls.Config, up Upper, pool *bytebufferpool.Pool, timeout time.Duration) *Conn {
	t := &Conn{Conn: c, up: up, pool: pool}
	t.tr.c, t.tr.blocking, t.tr.pool = c, true, pool
	t.tr.cond.L = &t.tr.mu
	t.tc = tls.Server(&t.tr, cfg)
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	go func() {
		err := t.tc.HandshakeContext(ctx)
		cancel()
		t.tr.setBlocking(false)
		c.Do(func() { t.handshakeDone(err) })
	}()
	return t
}

// handshakeDone runs on the loop once the handshake ended.
func (t *Conn) handshakeDone(err error) {
	if t.Closed() {
		return
	}
	if err == nil {
		t.rec = &stdRecords{tc: t.tc, tr: &t.tr}
		t.mu.Lock()
		t.open = true
		t.mu.Unlock()
		t.ready = true
	}
	t.up.OnHandshake(err)
	if err == nil && !t.Closed() {
		// The upgrade request may already be waiting.
		if err := t.decrypt(nil); err != nil {
			t.Close(err)
		}
		t.Flush()
	}
}

// Redeliver hands the unconsumed plaintext up again, now, without new
// ciphertext (poller.Conn.Redeliver for the layer above TLS). Loop only;
// not from within OnPlain.
func (t *Conn) Redeliver() {
	if !t.ready || len(t.plain) == 0 || t.Closed() {
		return
	}
	if err := t.decrypt(nil); err != nil {
		t.Close(err)
		return
	}
	t.Flush()
}

// Ready reports whether the handshake has completed. Loop only.
func (t *Conn) Ready() bool { return t.ready }

// Feed takes ciphertext the loop read. Loop only.
func (t *Conn) Feed(cipher []byte) error {
	if !t.ready {
		t.tr.feed(cipher)
		return nil
	}
	return t.decrypt(cipher)
}

// decrypt opens what arrived and hands the plaintext up, keeping what the
// upper layer leaves for next time.
func (t *Conn) decrypt(cipher []byte) error {
	out, err := t.rec.Open(t.plain, cipher)
	if len(out) > 0 {
		used, uerr := t.up.OnPlain(out)
		if uerr != nil {
			return uerr
		}
		if t.Closed() {
			return nil
		}
		out = out[:copy(out, out[used:])]
	}
	t.plain = out
	if len(out) == 0 {
		t.plain = nil // the buffer goes with the read; an idle connection holds none
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return poller.ErrPeerClosed
		}
		return err
	}
	return nil
}

// Release gives back what the TLS layer holds; call it when the connection
// closed. Loop only.
func (t *Conn) Release() {
	t.tr.Close()
	t.plain = nil
}

// seal protects b; with final, b is the last application data.
func (t *Conn) seal(final bool, b ...[]byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.final:
		return poller.ErrClosed
	case !t.open:
		return ErrNotReady
	}
	for _, p := range b {
		if err := t.rec.Seal(p); err != nil {
			return err
		}
	}
	if final {
		t.final = true
		return t.Conn.WriteFinal(nil) // later records, alerts included, are refused
	}
	return nil
}

// Write seals b and queues the records.
func (t *Conn) Write(b []byte) error { return t.seal(false, b) }

// Write2 seals a followed by b. (Two records when both are long; the
// peer's TLS layer joins them.)
func (t *Conn) Write2(a, b []byte) error {
	if len(a)+len(b) <= 4<<10 {
		// Small: one record, not two.
		buf := t.pool.Get()
		buf.B = append(append(buf.B, a...), b...)
		err := t.seal(false, buf.B)
		t.pool.Put(buf)
		return err
	}
	return t.seal(false, a, b)
}

// WriteShared seals b (records are per connection: nothing is shared).
func (t *Conn) WriteShared(b []byte) error { return t.seal(false, b) }

// WriteFinal seals b as the last application data: every later write fails
// with poller.ErrClosed.
func (t *Conn) WriteFinal(b []byte) error { return t.seal(true, b) }
