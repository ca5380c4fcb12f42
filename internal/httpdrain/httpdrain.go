// Package httpdrain hands an http.Server's listening socket to another
// process (the restart without reconnects) without a request being answered
// by the old process after the switch, and without dropping one it accepted.
//
// Before the switch, Pause stops accepting (the socket stays open: new
// connections wait in the kernel's accept queue for whichever process
// accepts next), turns keep-alive off, and Drained waits until every request
// already accepted is answered and its connection closed, so everything the
// old process's handlers did happens before the switch. After it, Finish
// closes the socket and shuts the server down; on an abort, Resume serves on.
// http.Server.Shutdown alone would not do: a connection it accepted just
// before it whose request it reads after it began is closed without an
// answer (net/http checks for the shutdown after reading each request), and
// the client sees EOF.
package httpdrain

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Listener wraps a TCP listener so that accepting can pause without
// closing it. Serve the http.Server on it and set the server's ConnState to
// Hook.
type Listener struct {
	*net.TCPListener
	mu      sync.Mutex
	paused  bool
	waiting bool          // an Accept is parked by the pause
	resume  chan struct{} // closed by Resume
	closed  bool
	state   map[net.Conn]http.ConnState
	busy    int
}

// NewListener wraps ln, which must be a *net.TCPListener.
func NewListener(ln net.Listener) (*Listener, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, errors.New("httpdrain: not a TCP listener")
	}
	return &Listener{TCPListener: tl}, nil
}

// Accept is net.Listener's, parked while paused.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		for l.paused && !l.closed {
			l.waiting = true
			ch := l.resume
			l.mu.Unlock()
			<-ch
			l.mu.Lock()
		}
		l.waiting = false
		l.mu.Unlock()
		c, err := l.TCPListener.Accept()
		var ne net.Error
		if err != nil && errors.As(err, &ne) && ne.Timeout() {
			l.mu.Lock()
			paused := l.paused
			l.mu.Unlock()
			if paused {
				continue // the deadline Pause set to wake this Accept
			}
		}
		return c, err
	}
}

// Close closes the socket (this process's descriptor only) and wakes a
// parked Accept, which then fails.
func (l *Listener) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		if l.paused {
			close(l.resume)
		}
	}
	l.mu.Unlock()
	return l.TCPListener.Close()
}

// Hook is the http.Server's ConnState: it counts the busy connections
// (accepted and not idle, or serving a request).
func (l *Listener) Hook(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state == nil {
		l.state = make(map[net.Conn]http.ConnState)
	}
	prev, known := l.state[c]
	wasBusy := known && (prev == http.StateNew || prev == http.StateActive)
	isBusy := s == http.StateNew || s == http.StateActive
	switch {
	case wasBusy && !isBusy:
		l.busy--
	case !wasBusy && isBusy:
		l.busy++
	}
	if s == http.StateClosed || s == http.StateHijacked {
		delete(l.state, c)
	} else {
		l.state[c] = s
	}
}

// Busy is the number of connections accepted and not idle.
func (l *Listener) Busy() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.busy
}

// Conns is the number of open connections.
func (l *Listener) Conns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.state)
}

// Pause stops accepting and turns srv's keep-alive off (its idle
// connections close; the others close after their answer). Pause, Drained
// and Resume do nothing on a nil Listener (a server that does not serve
// through one), so callers need no case of their own.
func (l *Listener) Pause(srv *http.Server) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if !l.paused && !l.closed {
		l.paused = true
		l.resume = make(chan struct{})
	}
	l.mu.Unlock()
	_ = l.TCPListener.SetDeadline(time.Now()) // wakes an Accept under way
	srv.SetKeepAlivesEnabled(false)
}

// Drained waits until a paused listener's Accept is parked (every
// connection accepted before is known to the server) and no connection is
// busy: every request already accepted is answered (its connection closes
// after it, keep-alive being off). A connection that was accepted and sends
// nothing is busy too: ctx bounds the wait.
func (l *Listener) Drained(ctx context.Context) error {
	for l != nil {
		l.mu.Lock()
		done := (l.waiting || l.closed) && l.busy == 0
		l.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// Resume undoes Pause (the handover was abandoned).
func (l *Listener) Resume(srv *http.Server) {
	if l == nil {
		return
	}
	_ = l.TCPListener.SetDeadline(time.Time{})
	srv.SetKeepAlivesEnabled(true)
	l.mu.Lock()
	if l.paused && !l.closed {
		l.paused = false
		close(l.resume)
	}
	l.mu.Unlock()
}

// Finish ends srv once another process accepts on the socket: ln, the
// listener srv serves from (a Listener, or one wrapping it whose Close
// closes it too), closes (Serve returns net.ErrClosed, which its caller
// should not report), then srv shuts down within ctx (forced past it).
func Finish(ctx context.Context, srv *http.Server, ln net.Listener) error {
	_ = ln.Close()
	// Shutdown closes the listeners Serve still tracks: l again when Serve
	// has not returned yet, which is not a failure.
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
		srv.Close()
		return err
	}
	return nil
}
