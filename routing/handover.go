package routing

import (
	"errors"
	"fmt"
)

// Moving sessions to another process (the restart without reconnects,
// docs/design.md): the old process captures a session once no handler runs
// or waits for it, the new one registers it again with its identity and
// subscriptions, and neither side runs subscribe hooks or sends join and
// leave events: for the clients and the application nothing changed.

// SessionState is what of a session moves.
type SessionState struct {
	ConnectedAt int64 // unix nanoseconds (wall clock: the same in both processes)
	User        string
	Info        []byte // raw JSON, nil for none
	Expires     int64  // unix seconds, 0: never
	Channels    []string
}

// ErrSessionBusy: the session has messages queued or a handler running or
// deferred; capture it later.
var ErrSessionBusy = errors.New("routing: session busy")

// ExportSession captures s when nothing of it is in flight: no message
// queued or being handled, no deferred reply pending, not closing. It changes
// nothing: if the handover is abandoned the session serves on as it was.
func (r *Router) ExportSession(s *Session) (SessionState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.closing {
		return SessionState{}, fmt.Errorf("%w: closing", ErrSessionBusy)
	}
	if s.pending > 0 || s.scheduled || s.head != nil || s.x != nil && (s.x.dhead != nil || s.x.deferred > 0 || s.x.noteBytes > 0) {
		return SessionState{}, ErrSessionBusy
	}
	st := SessionState{ConnectedAt: s.connectedAt}
	if id := s.ident.Load(); id != nil {
		st.User, st.Info, st.Expires = id.user(), id.info(), int64(id.expires.Load())
	}
	s.eachSub(func(t *topic) { st.Channels = append(st.Channels, t.name()) })
	return st, nil
}

// ImportSession registers the session of a connection handed over by
// another process: its identity and subscriptions as they were, without
// hooks, notices or join events. A channel that no longer fits (an invalid
// name, past the per-session cap of this process) is left out and named in
// the error; the session is returned either way.
func (r *Router) ImportSession(conn Conn, st SessionState) (*Session, error) {
	s := r.Open(conn)
	if st.ConnectedAt != 0 {
		s.connectedAt = st.ConnectedAt
	}
	var errs []error
	if st.User != "" {
		if err := r.hub.SetIdentityUntil(s, st.User, st.Info, st.Expires); err != nil {
			errs = append(errs, fmt.Errorf("identity: %w", err))
		}
	}
	for _, ch := range st.Channels {
		if !ValidChannel([]byte(ch)) {
			errs = append(errs, fmt.Errorf("channel %q: %w", ch, errChanInvalid))
			continue
		}
		t, first, err := r.hub.subscribe(s, []byte(ch), nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("channel %q: %w", ch, err))
			continue
		}
		if first {
			r.hub.interest(KindChannel, t.name(), true)
		}
	}
	return s, errors.Join(errs...)
}

// Forget ends a session whose connection another process serves now (or
// one imported by a handover that was abandoned): like Closed, but no leave
// events, since for its subscribers nothing ended.
func (r *Router) Forget(s *Session) { r.end(s, false) }

// ApplySubscription subscribes (on) or unsubscribes s to channel as a
// handover replays it: a change the server API made to a session after the
// old process captured it. No notice (the client got it already, as bytes)
// and no join or leave event (sent by the old process).
func (r *Router) ApplySubscription(s *Session, channel string, on bool) error {
	if !ValidChannel([]byte(channel)) {
		return errChanInvalid
	}
	if on {
		t, first, err := r.hub.subscribe(s, []byte(channel), nil)
		if first {
			r.hub.interest(KindChannel, t.name(), true)
		}
		return err
	}
	s.mu.Lock()
	var t *topic
	last := false
	if rec, _, _ := s.findName([]byte(channel)); rec.c != nil {
		t = rec.t
		_, last = r.hub.unlink(rec.c, rec.i, t)
	}
	s.mu.Unlock()
	if last {
		r.hub.interest(KindChannel, t.name(), false)
	}
	return nil
}
