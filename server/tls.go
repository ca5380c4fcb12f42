package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"
	"go.uber.org/zap"

	"github.com/wsedge/wsedge/limits"
	"github.com/wsedge/wsedge/poller"
)

// TLS runs on the event loops too, so an idle wss connection costs about
// what a plain one does: crypto/tls is driven over an in-memory transport.
// The handshake, which crypto/tls cannot resume after a "would block", runs in
// a short-lived goroutine per connection that waits for the ciphertext the
// loop feeds it; once it is done the loop decrypts records as they arrive
// (a would-block read is a temporary error, which crypto/tls keeps no state
// about) and writers encrypt into the connection's queue.

// certStore holds the serving certificate; SIGHUP swaps it atomically.
type certStore struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func (cs *certStore) load() error {
	c, err := tls.LoadX509KeyPair(cs.certFile, cs.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s / key %s: %w", cs.certFile, cs.keyFile, err)
	}
	cs.cur.Store(&c)
	return nil
}

func (cs *certStore) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return cs.cur.Load(), nil
		},
	}
}

// errWouldBlock tells crypto/tls that no more ciphertext is buffered; it is
// temporary, so the tls.Conn stays usable.
type wouldBlock struct{}

func (wouldBlock) Error() string   { return "no buffered ciphertext" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

var errWouldBlock net.Error = wouldBlock{}

// transport is the net.Conn under a tls.Conn: reads come from what the loop
// fed, writes go into the poller connection's queue as they are.
type transport struct {
	c *poller.Conn

	mu       sync.Mutex
	cond     sync.Cond
	in       *bytebufferpool.ByteBuffer
	off      int
	blocking bool // handshake: Read waits for ciphertext
	closed   bool
	pool     *bytebufferpool.Pool
}

func (t *transport) feed(b []byte) {
	t.mu.Lock()
	if t.in == nil {
		t.in = t.pool.Get()
	}
	t.in.B = append(t.in.B, b...)
	t.mu.Unlock()
	t.cond.Signal()
}

func (t *transport) Read(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.in == nil || t.off == len(t.in.B) {
		if t.closed {
			return 0, io.EOF
		}
		if !t.blocking {
			return 0, errWouldBlock
		}
		t.cond.Wait()
	}
	n := copy(p, t.in.B[t.off:])
	t.off += n
	if t.off == len(t.in.B) {
		t.pool.Put(t.in)
		t.in, t.off = nil, 0
	}
	return n, nil
}

func (t *transport) Write(p []byte) (int, error) {
	if err := t.c.WriteRaw(p); err != nil {
		return 0, err
	}
	t.mu.Lock()
	handshaking := t.blocking
	t.mu.Unlock()
	if handshaking {
		// The handshake goroutine has no loop to flush for it.
		if err := t.c.Flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (t *transport) setBlocking(b bool) {
	t.mu.Lock()
	t.blocking = b
	t.mu.Unlock()
	t.cond.Broadcast()
}

func (t *transport) Close() error {
	t.mu.Lock()
	t.closed = true
	if t.in != nil {
		t.pool.Put(t.in)
		t.in, t.off = nil, 0
	}
	t.mu.Unlock()
	t.cond.Broadcast()
	return nil
}

func (t *transport) LocalAddr() net.Addr              { return nil }
func (t *transport) RemoteAddr() net.Addr             { return net.TCPAddrFromAddrPort(t.c.RemoteAddr()) }
func (t *transport) SetDeadline(time.Time) error      { return nil } // the timer wheel enforces deadlines
func (t *transport) SetReadDeadline(time.Time) error  { return nil }
func (t *transport) SetWriteDeadline(time.Time) error { return nil }

// tlsState is a connection's TLS layer.
type tlsState struct {
	tr    transport
	tc    *tls.Conn
	ready bool                       // handshake done; loop only
	plain *bytebufferpool.ByteBuffer // decrypted bytes not consumed yet
}

// startTLS begins the handshake of a new connection. Loop only.
func (w *wsConn) startTLS() {
	s := w.srv()
	st := &tlsState{}
	st.tr.c, st.tr.blocking, st.tr.pool = w.c, true, &s.tlsBufs
	st.tr.cond.L = &st.tr.mu
	st.tc = tls.Server(&st.tr, s.tlsConf)
	w.tls = st
	w.c.SetSealer(st.tc)
	// The loop's handshake timer covers the TLS handshake too: when it
	// fires, the connection closes, and so does the transport the
	// goroutine reads. Only without -handshake-timeout does the goroutine
	// bound itself, so that a silent client cannot hold it forever.
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if s.opts.HandshakeTimeout <= 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
	}
	go func() {
		err := st.tc.HandshakeContext(ctx)
		cancel()
		st.tr.setBlocking(false)
		w.c.Do(func() { w.tlsReady(err) })
	}()
}

// tlsReady runs on the loop once the handshake ended.
func (w *wsConn) tlsReady(err error) {
	if w.c.Closed() {
		return
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			w.srv().m.Timeouts.WithLabelValues("handshake").Inc()
			w.srv().refused(limits.ReasonHandshakeTimeout, w.c.RemoteAddr().String())
		} else {
			w.srv().refused(limits.ReasonBadRequest, w.c.RemoteAddr().String())
		}
		w.srv().log.Debug("TLS handshake failed", zap.String("peer", w.c.RemoteAddr().String()), zap.Error(err))
		w.state = stDone
		w.c.Close(fmt.Errorf("tls handshake: %w", err))
		return
	}
	w.tls.ready = true
	// The upgrade request may already be waiting.
	if err := w.tlsDecrypt(); err != nil {
		w.c.Close(err)
	}
	w.srv().flushStats(w.c.LoopID())
	w.c.Flush()
}

// tlsData takes ciphertext from the loop. Loop only.
func (w *wsConn) tlsData(cipher []byte) error {
	w.tls.tr.feed(cipher)
	if !w.tls.ready {
		return nil
	}
	return w.tlsDecrypt()
}

// tlsDecrypt decrypts what is buffered and hands the plaintext to the
// WebSocket layer, keeping any partial frame for next time.
func (w *wsConn) tlsDecrypt() error {
	st := w.tls
	for {
		if st.plain == nil {
			st.plain = w.srv().tlsBufs.Get()
		}
		b := st.plain.B
		if cap(b)-len(b) < 16<<10 {
			nb := make([]byte, len(b), len(b)+32<<10)
			copy(nb, b)
			b = nb
		}
		n, err := st.tc.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if n > 0 {
			used, herr := w.onPlain(b)
			if herr != nil {
				return herr
			}
			if w.state == stDone || w.c.Closed() {
				return nil
			}
			b = b[:copy(b, b[used:])]
		}
		st.plain.B = b
		if len(b) == 0 {
			w.srv().tlsBufs.Put(st.plain)
			st.plain = nil
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, errWouldBlock):
			return nil
		case errors.Is(err, io.EOF):
			return poller.ErrPeerClosed
		default:
			return fmt.Errorf("tls read: %w", err)
		}
	}
}

// closeTLS releases the TLS layer when the connection ends.
func (w *wsConn) closeTLS() {
	if w.tls == nil {
		return
	}
	w.tls.tr.Close()
	if w.tls.plain != nil {
		w.srv().tlsBufs.Put(w.tls.plain)
		w.tls.plain = nil
	}
}
