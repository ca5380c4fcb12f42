package routing

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"
)

// What an identity costs a connection: very many identified, idle connections live on a node,
// so an identity is one allocation holding the user id and the info too (32 bytes for up to
// 16 bytes of them, then the size class that fits: tailed), and a slot of 8 bytes in the user
// index (an open-addressing table, table.go). The index holds the first session of each user;
// the user's other sessions follow through identity.next.

// identity is who a connection belongs to. Its user and info never change (a new info makes a
// new identity); expires moves with a refresh; next is the hub's, guarded by the user shard's
// lock.
type identity struct {
	next    *Session      // the user's next session in the user index
	expires atomic.Uint32 // unix seconds when the identity ends (a token's exp); 0: never
	split   uint16        // len(user)
	n       uint16        // len(user)+len(info); identFar: both are in an identityFar
	// The user id then the info: the first identInline bytes here, the rest right after the
	// identity in the same allocation (newIdentity).
	ub [identInline]byte
}

const (
	identInline = 16
	identFar    = math.MaxUint16 // identity.n of an identityFar
)

// The inline bytes end the identity exactly, so a tail continues them.
var _ = [1]struct{}{}[unsafe.Sizeof(identity{})-unsafe.Offsetof(identity{}.ub)-identInline]

// identityFar is an identity whose user id and info do not fit a tail (over
// identInline+maxTail bytes: a large info): a string holds them.
type identityFar struct {
	id    identity
	ui    string
	split int
}

// ui is the user id followed by the info, and the user id's length. The string points into
// the identity: holding it keeps the identity (not more) allocated.
func (id *identity) ui() (string, int) {
	if id.n == identFar {
		f := (*identityFar)(unsafe.Pointer(id))
		return f.ui, f.split
	}
	return unsafe.String(&id.ub[0], int(id.n)), int(id.split)
}

func (id *identity) user() string {
	ui, split := id.ui()
	return ui[:split]
}

// info is the raw JSON kept after the user id, read only; nil when none.
func (id *identity) info() []byte {
	ui, split := id.ui()
	if split == len(ui) {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(ui[split:]), len(ui)-split)
}

// newIdentity copies user and info into one new identity.
func newIdentity(user string, info []byte, expires int64) *identity {
	var id *identity
	if n := len(user) + len(info); n <= identInline+maxTail {
		id = tailed[identity](n - identInline)
		id.split, id.n = uint16(len(user)), uint16(n)
		b := unsafe.Slice(&id.ub[0], n)
		copy(b[copy(b, user):], info)
	} else {
		b := make([]byte, 0, n)
		b = append(append(b, user...), info...)
		f := &identityFar{ui: unsafe.String(unsafe.SliceData(b), n), split: len(user)}
		f.id.n = identFar
		id = &f.id
	}
	id.expires.Store(clampExpires(expires))
	return id
}

// clampExpires fits unix seconds in 32 bits (until 2106; later is never, here).
func clampExpires(s int64) uint32 {
	switch {
	case s <= 0:
		return 0
	case s > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(s)
}

// userShard indexes the identified sessions of the user-id hashes that fall in it.
type userShard struct {
	mu sync.RWMutex
	t  ptrTable[Session] // the first session of each user, by user id
}

// head is the first session of user, nil when the node has none. sh.mu held.
func (sh *userShard) head(hash uint64, user string) *Session {
	return sh.t.get(hash, func(s *Session) bool { return s.ident.Load().user() == user })
}

func (h *Hub) sessionUserHash(s *Session) uint64 { return h.userHash(s.ident.Load().user()) }

func (h *Hub) userHash(user string) uint64 {
	if h.hashUser != nil {
		return h.hashUser(user)
	}
	return maphash.String(h.seed, user)
}

func (h *Hub) userShard(hash uint64) *userShard { return &h.users[hash%hubShards] }

// SetIdentity records who s belongs to: user (non-empty) and info (raw JSON, copied; nil for
// none), and indexes s under user so that Deliver(KindUser) and UserSessions find it.
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
	hash := h.userHash(user)
	sh := h.userShard(hash)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errSessionClosed
	}
	old := s.ident.Load()
	if old != nil && old.user() != user {
		s.mu.Unlock()
		return errUserChange
	}
	id := newIdentity(user, info, expires)
	first := false
	sh.mu.Lock()
	if old != nil {
		id.next = old.next // same place in the list: only the identity is new
	} else if head := sh.head(hash, user); head == nil {
		first = true
		s.ident.Store(id) // the table hashes the session's user
		sh.t.insert(hash, s, h.hashUserSession)
	} else {
		hid := head.ident.Load() // second in the list: the table's slot stays
		id.next, hid.next = hid.next, s
	}
	s.ident.Store(id)
	sh.mu.Unlock()
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
	id := s.ident.Load()
	switch {
	case s.closed:
		return errSessionClosed
	case id == nil:
		return errAnonymous
	case id.user() != user:
		return errUserChange
	}
	id.expires.Store(clampExpires(expires))
	return nil
}

// dropUser removes a closed session from the user index.
func (h *Hub) dropUser(s *Session) {
	id := s.ident.Load()
	if id == nil {
		return
	}
	user := id.user()
	hash := h.userHash(user)
	sh := h.userShard(hash)
	sh.mu.Lock()
	last := false
	if head := sh.head(hash, user); head == s {
		if id.next == nil {
			sh.t.remove(hash, s, h.hashUserSession)
			last = true
		} else {
			sh.t.replace(hash, s, id.next)
		}
	} else {
		for o := head; o != nil; o = o.ident.Load().next {
			if oid := o.ident.Load(); oid.next == s {
				oid.next = id.next
				break
			}
		}
	}
	id.next = nil
	sh.mu.Unlock()
	if last {
		h.interest(KindUser, user, false)
	}
}

// UserConnections is the number of this node's connections of user.
func (h *Hub) UserConnections(user string) int {
	hash := h.userHash(user)
	sh := h.userShard(hash)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	n := 0
	for o := sh.head(hash, user); o != nil; o = o.ident.Load().next {
		n++
	}
	return n
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
	hash := h.userHash(user)
	sh := h.userShard(hash)
	sh.mu.RLock()
	for o := sh.head(hash, user); o != nil; o = o.ident.Load().next {
		dst = append(dst, o)
	}
	sh.mu.RUnlock()
	return dst
}
