package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/internal/httpdrain"
)

// Timeouts of the admin HTTP server. The write timeout leaves room for a
// CPU profile or trace (pprof refuses ?seconds= at or beyond it).
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 2 * time.Minute
	idleTimeout       = time.Minute
	maxHeaderBytes    = 16 << 10
)

// Listener is a running admin server.
type Listener struct {
	srv     *http.Server
	ln      net.Listener
	done    chan struct{}
	conns   httpdrain.Tracker
	handoff atomic.Bool // Handoff closed the listener: Serve's error is expected
}

// Serve binds addr (an error here is returned, so a taken port fails the
// start) and serves h on it in the background until Stop.
func Serve(addr string, h http.Handler, log *zap.Logger) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	return ServeListener(ln, h, log), nil
}

// ServeListener is Serve on a listener already bound (one handed over by
// the process this one replaced).
func ServeListener(ln net.Listener, h http.Handler, log *zap.Logger) *Listener {
	l := &Listener{
		ln:   ln,
		done: make(chan struct{}),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          zap.NewStdLog(log.Named("admin")),
		},
	}
	l.srv.ConnState = l.conns.Hook
	go func() {
		defer close(l.done)
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !(l.handoff.Load() && errors.Is(err, net.ErrClosed)) {
			log.Error("admin listener stopped", zap.Error(err))
		}
	}()
	return l
}

// Handoff stops the listener once another process accepts on its socket:
// nothing more is accepted, every request already accepted is answered,
// then the connections close (httpdrain). ctx bounds it.
func (l *Listener) Handoff(ctx context.Context) error {
	l.handoff.Store(true)
	return httpdrain.Handoff(ctx, l.srv, l.ln, l.done, &l.conns)
}

// Net is the listening socket, for handing it to a new process.
func (l *Listener) Net() net.Listener { return l.ln }

// Addr is the bound address (useful when addr asked for port 0).
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Stop closes the listener, lets requests in flight finish until ctx ends,
// then closes what is left. It returns ctx's error if it had to force.
func (l *Listener) Stop(ctx context.Context) error {
	err := l.srv.Shutdown(ctx)
	if err != nil {
		l.srv.Close()
	}
	<-l.done
	return err
}
