package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/internal/httpdrain"
)

// ListenConfig configures the API listener (the -api-* flags).
type ListenConfig struct {
	Addr string // host:port; required
	// Listener, when set, is served instead of binding Addr (a socket
	// handed over by the process this one replaced).
	Listener net.Listener
	// TLSCert and TLSKey (PEM files) serve HTTPS; both or neither.
	// ReloadTLS re-reads them.
	TLSCert, TLSKey string
	// MaxConns bounds open connections (-api-max-conns); past it new ones
	// wait in the kernel's accept queue. 0 = no cap.
	MaxConns int
}

// Listener limits and timeouts. The idle timeout outlasts the usual client
// pools' (Go's http.Transport: 90s) so a backend's keep-alive connection is
// closed by the backend, not under a request it is sending.
const (
	readHeaderTimeout    = 10 * time.Second
	readTimeout          = 30 * time.Second // whole request, body included
	idleTimeout          = 2 * time.Minute
	maxHeaderBytes       = 16 << 10
	maxConcurrentStreams = 32 // HTTP/2 (TLS only): requests in flight per connection
)

// Listener is a running API server.
type Listener struct {
	srv  *http.Server
	ln   net.Listener
	raw  net.Listener        // ln without the connection cap
	dl   *httpdrain.Listener // raw, when it can pause (TCP)
	cert *certStore          // nil without TLS
	done chan struct{}

	handoff atomic.Bool // Handoff closed the listener: Serve's error is expected
}

// Serve binds lc.Addr and serves the API of n on it until Stop. It refuses
// to start without c.Key (ErrNoKey): unlike the admin mount, this listener
// is meant for the network. A bind or certificate error is returned.
//
// Bounds: at most MaxConns connections (when set); a request head of 16 KiB; a body
// of c.MaxBody; with TLS, HTTP/2 is offered with 32 requests in flight
// per connection. So at most MaxConns x 32 bodies are read at once, and
// only from callers that sent the key (bodies are read after it).
func Serve(n Node, c Config, lc ListenConfig) (*Listener, error) {
	if c.Keyless {
		return nil, errors.New("api listener: a keyless API is only for the admin listener")
	}
	h, err := NewHandler(n, c)
	if err != nil {
		return nil, fmt.Errorf("api listener: %w", err)
	}
	if (lc.TLSCert == "") != (lc.TLSKey == "") {
		return nil, errors.New("api listener: TLS needs both a certificate and a key")
	}
	l := &Listener{done: make(chan struct{})}
	var tlsConf *tls.Config
	if lc.TLSCert != "" {
		l.cert = &certStore{certFile: lc.TLSCert, keyFile: lc.TLSKey}
		if err := l.cert.load(); err != nil {
			return nil, fmt.Errorf("api listener: %w", err)
		}
		tlsConf = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return l.cert.cur.Load(), nil },
		}
	}
	ln := lc.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", lc.Addr); err != nil {
			return nil, fmt.Errorf("api listener: %w", err)
		}
	}
	l.raw = ln
	if d, err := httpdrain.NewListener(ln); err == nil {
		l.dl, ln = d, d
	}
	l.ln = ln
	if lc.MaxConns > 0 {
		l.ln = &limitListener{Listener: ln, slots: make(chan struct{}, lc.MaxConns), closed: make(chan struct{})}
	}
	log := h.log
	l.srv = &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      h.timeout + 10*time.Second, // an answer always outlasts the call it waits for
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: maxConcurrentStreams},
		ErrorLog:          zap.NewStdLog(log.Named("api")),
	}
	if l.dl != nil {
		l.srv.ConnState = l.dl.Hook
	}
	go func() {
		defer close(l.done)
		var err error
		if tlsConf != nil {
			err = l.srv.ServeTLS(l.ln, "", "")
		} else {
			err = l.srv.Serve(l.ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !(l.handoff.Load() && errors.Is(err, net.ErrClosed)) {
			log.Error("api listener stopped", zap.Error(err))
		}
	}()
	return l, nil
}

// Addr is the bound address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Pause stops accepting for a handover (the socket stays open) and lets
// the connections close after their answer; Drained waits for that within
// ctx; Resume undoes Pause; Handoff ends the server once the new process
// accepts on the socket (httpdrain).
func (l *Listener) Pause() { l.dl.Pause(l.srv) }

// Drained: see Pause.
func (l *Listener) Drained(ctx context.Context) error { return l.dl.Drained(ctx) }

// Resume: see Pause.
func (l *Listener) Resume() { l.dl.Resume(l.srv) }

// Handoff: see Pause.
func (l *Listener) Handoff(ctx context.Context) error {
	l.handoff.Store(true)
	if l.dl == nil {
		return l.Stop(ctx)
	}
	// l.ln: closing the limitListener also wakes an Accept waiting for a slot.
	err := httpdrain.Finish(ctx, l.srv, l.ln)
	<-l.done
	return err
}

// Net is the listening socket, for handing it to a new process.
func (l *Listener) Net() net.Listener { return l.raw }

// TLS reports whether the listener serves HTTPS.
func (l *Listener) TLS() bool { return l.cert != nil }

// ReloadTLS re-reads the certificate and key (SIGHUP); on error the
// previous pair stays in use. Without TLS it does nothing.
func (l *Listener) ReloadTLS() error {
	if l.cert == nil {
		return nil
	}
	if err := l.cert.load(); err != nil {
		return fmt.Errorf("api listener: %w", err)
	}
	return nil
}

// Stop closes the listener and lets calls in flight finish until ctx ends,
// then closes what is left; it returns ctx's error if it had to force.
func (l *Listener) Stop(ctx context.Context) error {
	err := l.srv.Shutdown(ctx)
	if err != nil {
		l.srv.Close()
	}
	<-l.done
	return err
}

// certStore holds the serving certificate; ReloadTLS swaps it atomically.
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

// limitListener holds at most cap(slots) connections open: Accept waits
// for a slot before taking the next connection from the kernel.
type limitListener struct {
	net.Listener
	slots  chan struct{}
	closed chan struct{}
	once   sync.Once
}

// Close also wakes an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
