package routing

import "sync"

// userShard indexes the identified sessions of the users that hash to it. A user's list is
// short (one entry per connection of that user on this node), so removal scans it.
type userShard struct {
	mu sync.RWMutex
	m  map[string][]*Session
}

// SetIdentity records who s belongs to: user (non-empty) and info (raw JSON kept by reference,
// nil for none), and indexes s under user so that Deliver(KindUser) and UserSessions find it.
// Setting it again for the same user replaces info; a session cannot change user (an *Error
// PERMISSION_DENIED), nor be identified once closed. It never waits for the cluster: it may be
// called from an event loop (a token checked at the upgrade).
func (h *Hub) SetIdentity(s *Session, user string, info []byte) error {
	return h.SetIdentityUntil(s, user, info, 0)
}

// SetIdentityUntil is SetIdentity for an identity that ends at expires (unix seconds, a
// token's exp; 0: never). The server closes the connection then unless Session.Refresh moved
// it.
func (h *Hub) SetIdentityUntil(s *Session, user string, info []byte, expires int64) error {
	if user == "" {
		return errUserEmpty
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errSessionClosed
	}
	old := s.ident.Load()
	if old != nil && old.user != user {
		s.mu.Unlock()
		return errUserChange
	}
	s.ident.Store(&identity{user: user, info: info, expires: expires})
	first := false
	if old == nil {
		sh := &h.users[h.shardString(user)]
		sh.mu.Lock()
		if sh.m == nil {
			sh.m = make(map[string][]*Session)
		}
		list := sh.m[user]
		first = len(list) == 0
		sh.m[user] = append(list, s)
		sh.mu.Unlock()
	}
	s.mu.Unlock()
	if first {
		h.interest(KindUser, user, true)
	}
	return nil
}

// Refresh moves the end of the session's identity to expires (unix seconds; 0: never), for a
// refresh token of the same user. It fails with UNAUTHORIZED on an anonymous session and
// PERMISSION_DENIED when user is not the session's.
func (s *Session) Refresh(user string, expires int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.ident.Load()
	switch {
	case s.closed:
		return errSessionClosed
	case old == nil:
		return errAnonymous
	case old.user != user:
		return errUserChange
	}
	s.ident.Store(&identity{user: old.user, info: old.info, expires: expires})
	return nil
}

// dropUser removes a closed session from its user's index.
func (h *Hub) dropUser(s *Session) {
	id := s.ident.Load()
	if id == nil {
		return
	}
	sh := &h.users[h.shardString(id.user)]
	sh.mu.Lock()
	list := sh.m[id.user]
	for i, o := range list {
		if o == s {
			end := len(list) - 1
			list[i] = list[end]
			list[end] = nil
			list = list[:end]
			break
		}
	}
	last := len(list) == 0
	if last {
		delete(sh.m, id.user)
	} else {
		sh.m[id.user] = list
	}
	sh.mu.Unlock()
	if last {
		h.interest(KindUser, id.user, false)
	}
}

// UserConnections is the number of this node's connections of user.
func (h *Hub) UserConnections(user string) int {
	sh := &h.users[h.shardString(user)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return len(sh.m[user])
}

// UserSessions calls f for each of this node's sessions of user until f returns false. f runs
// without any hub lock held.
func (h *Hub) UserSessions(user string, f func(*Session) bool) {
	sp := h.scratch.Get().(*[]*Session)
	list := h.userSnapshot((*sp)[:0], user)
	for _, s := range list {
		if !f(s) {
			break
		}
	}
	clear(list)
	*sp = list[:0]
	h.scratch.Put(sp)
}

// userSnapshot appends the sessions of user to dst.
func (h *Hub) userSnapshot(dst []*Session, user string) []*Session {
	sh := &h.users[h.shardString(user)]
	sh.mu.RLock()
	dst = append(dst, sh.m[user]...)
	sh.mu.RUnlock()
	return dst
}
