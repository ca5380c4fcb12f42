package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/tlsconn"
)

// TLS runs on the event loops too (package tlsconn, between the poller and
// the WebSocket connection): an idle wss connection holds no goroutine.

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

// startTLS begins the handshake of a new connection. Loop only. The loop's
// handshake timer covers the TLS handshake too: when it fires the
// connection closes, and so does what the handshake goroutine reads. Only
// without -handshake-timeout does the goroutine bound itself (a minute), so
// that a silent client cannot hold it forever.
func (w *wsConn) startTLS() {
	own := time.Duration(0)
	if w.srv.opts.HandshakeTimeout <= 0 {
		own = time.Minute
	}
	w.tls = tlsconn.Server(w.c, w.srv.tlsConf, w, &w.srv.tlsBufs, own)
}

// OnHandshake is the end of the TLS handshake (tlsconn.Upper). Loop only.
func (w *wsConn) OnHandshake(err error) {
	if err == nil {
		return
	}
	s := w.srv
	if errors.Is(err, context.DeadlineExceeded) {
		s.m.Timeouts.WithLabelValues("handshake").Inc()
		s.refused(refHandshakeTimeout, w.c.RemoteAddr().String())
	} else {
		s.refused(refBadRequest, w.c.RemoteAddr().String())
	}
	s.log.Debug("TLS handshake failed", zap.String("peer", w.c.RemoteAddr().String()), zap.Error(err))
	w.state = stDone
	w.c.Close(fmt.Errorf("tls handshake: %w", err))
}

// OnPlain takes decrypted bytes (tlsconn.Upper). Loop only.
func (w *wsConn) OnPlain(b []byte) (int, error) {
	n, err := w.onPlain(b)
	w.srv.flushStats(w.c.LoopID())
	if w.state == stDone {
		return len(b), err // nothing more is read: drop the rest
	}
	return n, err
}
