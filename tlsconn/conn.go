package tlsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/wsedge/wsedge/poller"
	"github.com/wsedge/wsedge/tlsrecord"
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
//
// 80 bytes: what a TLS connection adds to a plain one, besides the
// 144-byte tlsrecord.Conn of the compact layer.
type Conn struct {
	*poller.Conn
	up  Upper
	cfg *Config
	hs  *handshake      // until the switch to rec; for good on crypto/tls
	rec *tlsrecord.Conn // the compact layer, after the switch

	// Loop-owned.
	plain  *bytebufferpool.ByteBuffer // decrypted, not yet consumed above
	in     *bytebufferpool.ByteBuffer // ciphertext held here, not by the poller: what crypto/tls left at the switch
	idleAt int64                      // loop time of the next Idle of rec (0: none due)

	// state says which of hs and rec writers use; set on the loop once the
	// fields it names are in place.
	state atomic.Uint32
}

const (
	stateHandshake uint32 = iota
	stateCompact          // rec
	stateStdlib           // hs.tc, crypto/tls end to end
)

// handshake is crypto/tls's side of a connection: all of it during the
// handshake and, on crypto/tls end to end, for the connection's life.
type handshake struct {
	tr transport
	tc *tls.Conn
	sw *tlsrecord.Handshake // Compact: the handshake that can switch to tlsrecord

	// crypto/tls end to end: orders sealed writes against WriteFinal.
	mu    sync.Mutex
	final bool
}

// Server starts the TLS handshake of a new connection (loop only). The
// handshake goroutine ends with the handshake; it bounds itself by timeout
// when that is > 0 (otherwise the caller's own timer must close c).
func Server(c *poller.Conn, cfg *Config, up Upper, timeout time.Duration) *Conn {
	t := &Conn{Conn: c, up: up, cfg: cfg}
	hs := &handshake{}
	hs.tr.c, hs.tr.blocking, hs.tr.pool = c, true, &cfg.pool
	hs.tr.cond.L = &hs.tr.mu
	if cfg.acc != nil {
		hs.sw = cfg.acc.Server(&hs.tr)
		hs.tc = hs.sw.TLS()
	} else {
		hs.tc = tls.Server(&hs.tr, cfg.tls)
	}
	t.hs = hs
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	go func() {
		err := hs.tc.HandshakeContext(ctx)
		cancel()
		hs.tr.setBlocking(false)
		c.Do(func() { t.handshakeDone(err) })
	}()
	return t
}

// handshakeDone runs on the loop once the handshake ended: TLS 1.3 moves to
// the compact record layer if configured, anything else stays on crypto/tls.
func (t *Conn) handshakeDone(err error) {
	if t.Closed() {
		return
	}
	hs := t.hs
	if err == nil {
		var r *tlsrecord.Conn
		serr := tlsrecord.ErrNotSwitched
		if hs.sw != nil {
			r, serr = hs.sw.Switch()
		}
		switch {
		case serr == nil:
			t.rec = r
			// Records the client sent after its Finished.
			t.in = hs.tr.take()
			hs.tr.Close()
			t.hs = nil // the tls.Conn and its buffers are garbage now
			t.state.Store(stateCompact)
		case errors.Is(serr, tlsrecord.ErrNotSwitched):
			hs.sw = nil
			t.state.Store(stateStdlib)
		default:
			err = serr
		}
	}
	t.up.OnHandshake(err)
	if err != nil || t.Closed() {
		return
	}
	// The upgrade request may already be waiting.
	var ferr error
	if t.rec != nil {
		ferr = t.openHeld(nil)
	} else {
		ferr = t.openStdlib(nil)
	}
	if ferr != nil {
		t.Close(ferr)
		return
	}
	t.Flush()
}

// Redeliver hands the unconsumed plaintext up again, now, without new
// ciphertext (poller.Conn.Redeliver for the layer above TLS: a connection
// paused while its identity is checked off the loop). Loop only; not from
// within OnPlain.
func (t *Conn) Redeliver() {
	if !t.Ready() || t.plain == nil || len(t.plain.B) == 0 || t.Closed() {
		return
	}
	p := t.plain
	used, err := t.up.OnPlain(p.B)
	if err != nil {
		t.Close(err)
		return
	}
	if t.Closed() {
		return
	}
	if p.B = p.B[:copy(p.B, p.B[used:])]; len(p.B) == 0 {
		t.releasePlain()
	}
	t.Flush()
}

// Ready reports whether the handshake has completed. Loop only.
func (t *Conn) Ready() bool { return t.state.Load() != stateHandshake }

// Version is the negotiated TLS version. Loop only, once Ready.
func (t *Conn) Version() uint16 {
	if t.rec != nil {
		return tls.VersionTLS13 // tlsrecord is TLS 1.3 only
	}
	return t.hs.tc.ConnectionState().Version
}

// Compact reports whether the connection runs on the compact record layer
// (TLS 1.3 after the switch). Loop only.
func (t *Conn) Compact() bool { return t.rec != nil }

// Feed takes the bytes the loop read and returns how many it consumed, like
// poller.Handler's OnData: the poller keeps the rest (a partial record) and
// presents it again with the next bytes. Records are decrypted in place:
// buf is overwritten. Loop only.
func (t *Conn) Feed(buf []byte) (int, error) {
	switch t.state.Load() {
	case stateCompact:
		if t.in != nil {
			return len(buf), t.openHeld(buf)
		}
		return t.open(buf)
	case stateStdlib:
		return len(buf), t.openStdlib(buf)
	}
	t.hs.tr.feed(buf)
	return len(buf), nil
}

// HeldInput reports whether input is waiting for the rest of a record in
// the TLS layer itself (not counting what the poller keeps): ciphertext
// from the switch, or crypto/tls's partial record. Loop only.
func (t *Conn) HeldInput() bool {
	return t.in != nil || t.rec == nil && t.hs != nil && t.hs.tr.partial()
}

// HeldPlain reports whether decrypted bytes wait for the layer above to
// consume them (a partial frame). Loop only.
func (t *Conn) HeldPlain() bool { return t.plain != nil }

// deliver hands plaintext up, after what is still held from before, and
// keeps what the layer above leaves.
func (t *Conn) deliver(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if t.plain != nil {
		t.plain.B = append(t.plain.B, p...)
		p = t.plain.B
	}
	used, err := t.up.OnPlain(p)
	if err != nil || t.Closed() {
		return err
	}
	rest := p[used:]
	switch {
	case t.plain != nil:
		t.plain.B = t.plain.B[:copy(t.plain.B, rest)]
		if len(t.plain.B) == 0 {
			t.releasePlain()
		}
	case len(rest) > 0:
		// p lies in the read buffer: keep a copy of the partial frame.
		t.plain = t.cfg.pool.Get()
		t.plain.B = append(t.plain.B[:0], rest...)
	}
	return nil
}

// maxPooled is the largest buffer given back to the pool; bigger ones (a
// large message under way) are left to the collector.
const maxPooled = 64 << 10

func (t *Conn) releasePlain() {
	if t.plain == nil {
		return
	}
	if cap(t.plain.B) > maxPooled {
		t.plain.B = nil
	}
	t.cfg.pool.Put(t.plain)
	t.plain = nil
}

func (t *Conn) releaseIn() {
	if t.in == nil {
		return
	}
	if cap(t.in.B) > maxPooled {
		t.in.B = nil
	}
	t.cfg.pool.Put(t.in)
	t.in = nil
}

// Release gives back what the TLS layer holds; call it when the connection
// closed. Loop only.
func (t *Conn) Release() {
	if t.hs != nil {
		t.hs.tr.Close() // also ends a handshake still waiting for input
	}
	t.releasePlain()
	t.releaseIn()
}

// Write seals b and queues the records.
func (t *Conn) Write(b []byte) error { return t.write(false, b, nil) }

// Write2 seals a followed by b: one record when they fit in one.
func (t *Conn) Write2(a, b []byte) error { return t.write(false, a, b) }

// WriteShared seals b (records are per connection: nothing is shared).
func (t *Conn) WriteShared(b []byte) error { return t.write(false, b, nil) }

// WriteFinal seals b as the last application data, followed by
// close_notify: every later write fails with poller.ErrClosed.
func (t *Conn) WriteFinal(b []byte) error { return t.write(true, b, nil) }

func (t *Conn) write(final bool, a, b []byte) error {
	switch t.state.Load() {
	case stateCompact:
		return t.writeCompact(final, a, b)
	case stateStdlib:
		return t.hs.write(t.Conn, &t.cfg.pool, final, a, b)
	}
	return ErrNotReady
}
