// Package httpdrain stops an http.Server whose listening socket another
// process now accepts on (the restart without reconnects) without dropping
// a request it already accepted. http.Server.Shutdown alone drops one: a
// connection accepted just before it whose request is read after it began
// is closed without an answer (net/http checks for the shutdown after
// reading each request), and the client sees EOF. Here accepting stops
// first, keep-alive is switched off, the requests of every connection
// already accepted are answered, and only then Shutdown closes what is idle.
package httpdrain

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Tracker follows a server's connections (http.Server.ConnState) and counts
// the busy ones: accepted and not yet idle, or serving a request.
type Tracker struct {
	mu    sync.Mutex
	state map[net.Conn]http.ConnState
	busy  int
}

// Hook is the http.Server.ConnState function.
func (t *Tracker) Hook(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == nil {
		t.state = make(map[net.Conn]http.ConnState)
	}
	prev, known := t.state[c]
	wasBusy := known && (prev == http.StateNew || prev == http.StateActive)
	isBusy := s == http.StateNew || s == http.StateActive
	switch {
	case wasBusy && !isBusy:
		t.busy--
	case !wasBusy && isBusy:
		t.busy++
	}
	if s == http.StateClosed || s == http.StateHijacked {
		delete(t.state, c)
	} else {
		t.state[c] = s
	}
}

// Busy is the number of connections accepted and not idle.
func (t *Tracker) Busy() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.busy
}

// Handoff stops srv: it closes ln (srv's listener; the caller's Serve then
// returns with net.ErrClosed, which it should not report) and waits until
// served is closed (Serve returned: nothing more is accepted), turns
// keep-alive off so each connection closes after its answer, waits until
// no connection is busy, then shuts srv down. ctx bounds the whole; past it
// srv is closed and ctx's error returned.
func Handoff(ctx context.Context, srv *http.Server, ln net.Listener, served <-chan struct{}, t *Tracker) error {
	_ = ln.Close()
	select {
	case <-served:
	case <-ctx.Done():
	}
	srv.SetKeepAlivesEnabled(false)
	for t.Busy() > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Millisecond):
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return err
	}
	return nil
}
