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
// the WebSocket connection): an idle wss connection holds no goroutine, and
// on the compact record layer no cipher state either, only the traffic
// secrets and sequence numbers of its TLS 1.3 session.

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

// config is the listener's crypto/tls configuration. The certificate comes
// through GetCertificate, so a reload reaches the next handshake on either
// record layer (tlsrecord's Acceptor keeps the callback in its clones).
func (cs *certStore) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return cs.cur.Load(), nil
		},
	}
}

// validateTLS checks -tls-record-layer and -tls-cipher-idle.
func (o *Options) validateTLS() error {
	if o.TLSRecordLayer != "" {
		if _, err := tlsconn.ParseLayer(o.TLSRecordLayer); err != nil {
			return fmt.Errorf("-tls-record-layer: %w", err)
		}
	}
	if o.TLSCipherIdle < 0 {
		return errors.New("-tls-cipher-idle: must not be negative")
	}
	return nil
}

// newTLSConfig builds what every TLS connection of the listener shares.
func (s *Server) newTLSConfig() *tlsconn.Config {
	layer := tlsconn.Compact
	if s.opts.TLSRecordLayer != "" {
		layer, _ = tlsconn.ParseLayer(s.opts.TLSRecordLayer) // checked by Validate
	}
	s.opts.TLSRecordLayer = layer.String()
	return tlsconn.NewConfig(s.certs.config(), layer, s.opts.TLSCipherIdle)
}

// startTLS begins the handshake of a new connection. Loop only. The loop's
// handshake timer covers the TLS handshake too: when it fires the
// connection closes, and so does what the handshake goroutine reads. Only
// without -handshake-timeout does the goroutine bound itself (a minute), so
// that a silent client cannot hold it forever.
func (w *wsConn) startTLS() {
	own := time.Duration(0)
	if w.srv().opts.HandshakeTimeout <= 0 {
		own = time.Minute
	}
	w.spill().tls = tlsconn.Server(w.conn(), w.srv().tlsConf, w, own)
}

// OnHandshake is the end of the TLS handshake (tlsconn.Upper). Loop only.
func (w *wsConn) OnHandshake(err error) {
	s := w.srv()
	if err == nil {
		layer := "stdlib"
		if w.tls().Compact() {
			layer = "compact"
		}
		version := "1.3"
		if w.tls().Version() != tls.VersionTLS13 {
			version = "1.2" // the oldest the listener accepts
		}
		s.m.TLSSessions.WithLabelValues(layer, version).Inc()
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		s.m.Timeouts.WithLabelValues("handshake").Inc()
		s.refused(refHandshakeTimeout, w.conn().RemoteAddr().String())
	} else {
		s.refused(refBadRequest, w.conn().RemoteAddr().String())
	}
	s.log.Debug("TLS handshake failed", zap.String("peer", w.conn().RemoteAddr().String()), zap.Error(err))
	w.state = stDone
	w.conn().Close(fmt.Errorf("tls handshake: %w", err))
}

// OnPlain takes decrypted bytes (tlsconn.Upper). Loop only.
func (w *wsConn) OnPlain(b []byte) (int, error) {
	n, err := w.onPlain(b)
	w.srv().flushStats(w.conn().LoopID())
	if w.state == stDone {
		return len(b), err // nothing more is read: drop the rest
	}
	return n, err
}

// feedTLS is OnData on a TLS connection: the TLS layer decrypts and calls
// OnPlain; a partial record stays with the poller, as a partial frame does
// on a plain connection. Loop only.
func (w *wsConn) feedTLS(buf []byte) (int, error) {
	n, err := w.tls().Feed(buf)
	if err != nil || w.state != stOpen || w.conn().Closed() {
		return n, err
	}
	// A record that has begun to arrive counts as a frame under way for
	// -read-timeout: a client trickling a record would otherwise hold its
	// buffer with every byte refreshing the idle timeout. (OnPlain keeps
	// since for a partial frame in the plaintext.)
	switch {
	case n < len(buf) || w.tls().HeldInput():
		if w.since == 0 {
			w.since = stamp(w.conn().LastRead())
		}
	case !w.tls().HeldPlain():
		w.since = 0
	}
	next := w.tls().IdleDeadline(w.conn().LastRead())
	if rt := w.srv().opts.ReadTimeout; rt > 0 {
		if started := w.readStarted(); started != 0 {
			if at := started + int64(rt); next == 0 || at < next {
				next = at
			}
		}
	}
	if next != 0 {
		w.conn().SetTimerBefore(next)
	}
	return n, nil
}

// tlsTimer gives the TLS layer its turn when the connection's timer fires
// while open: cipher state unused for -tls-cipher-idle is dropped. Loop only.
func (w *wsConn) tlsTimer(now int64) {
	if w.tls() != nil && w.tls().IdleTimer(now) {
		w.srv().m.TLSCipherDrops.Inc()
	}
}

// tlsDeadline is when the TLS layer next wants the timer (0: never).
func (w *wsConn) tlsDeadline(now int64) int64 {
	if w.tls() == nil {
		return 0
	}
	return w.tls().IdleDeadline(now)
}
