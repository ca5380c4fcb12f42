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
	dl      *httpdrain.Listener // ln, when it can pause (TCP)
	done    chan struct{}
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
	var dl *httpdrain.Listener
	if d, err := httpdrain.NewListener(ln); err == nil {
		dl, ln = d, d
	}
	l := &Listener{
		dl:   dl,
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
	if dl != nil {
		l.srv.ConnState = dl.Hook
	}
	go func() {
		defer close(l.done)
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !(l.handoff.Load() && errors.Is(err, net.ErrClosed)) {
			log.Error("admin listener stopped", zap.Error(err))
		}
	}()
	return l
}

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
	err := httpdrain.Finish(ctx, l.srv, l.dl)
	<-l.done
	return err
}

// Net is the listening socket, for handing it to a new process.
func (l *Listener) Net() net.Listener {
	if l.dl != nil {
		return l.dl.TCPListener
	}
	return l.ln
}

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
