package routing

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"
)

// Session is the router's state for one connection: identity, activity, user metadata, the
// mailbox of messages waiting for a worker, and the channels it subscribes to. It is kept small
// because an edge node holds very many idle ones: an idle session owns no buffers and no maps.
type Session struct {
	id          uint64
	remote      netip.Addr
	connectedAt int64 // unix nanoseconds
	lastActive  atomic.Int64
	conn        Conn

	mu        sync.Mutex // guards everything below
	head      *envelope  // mailbox, FIFO
	tail      *envelope
	pending   int
	scheduled bool     // queued on, or being drained by, a worker
	closed    bool     // Closed was called: no more messages, no more subscriptions
	next      *Session // worker run queue link, owned by the pool
	subs      map[string]struct{}
	meta      map[string]any
}

// envelope is one queued message: a pooled copy of the payload.
type envelope struct {
	buf  *bytebufferpool.ByteBuffer
	next *envelope
}

// ID is unique among the sessions of one Router for its lifetime (never reused).
func (s *Session) ID() uint64 { return s.id }

// RemoteIP is the client address the server attributed the connection to.
func (s *Session) RemoteIP() netip.Addr { return s.remote }

// ConnectedAt is when Open was called.
func (s *Session) ConnectedAt() time.Time { return time.Unix(0, s.connectedAt) }

// LastActive is when the last message was dispatched for this session (or Open).
func (s *Session) LastActive() time.Time { return time.Unix(0, s.lastActive.Load()) }

// Touch records activity now; Dispatch calls it for every message.
func (s *Session) Touch() { s.lastActive.Store(time.Now().UnixNano()) }

// Conn is the session's connection.
func (s *Session) Conn() Conn { return s.conn }

// Get returns the metadata value stored under key.
func (s *Session) Get(key string) (any, bool) {
	s.mu.Lock()
	v, ok := s.meta[key]
	s.mu.Unlock()
	return v, ok
}

// Set stores a metadata value under key; safe for concurrent use.
func (s *Session) Set(key string, v any) {
	s.mu.Lock()
	if s.meta == nil {
		s.meta = make(map[string]any, 2)
	}
	s.meta[key] = v
	s.mu.Unlock()
}

// Delete removes the metadata value stored under key.
func (s *Session) Delete(key string) {
	s.mu.Lock()
	delete(s.meta, key)
	s.mu.Unlock()
}

// Channels returns the names of the channels the session subscribes to, in no order.
func (s *Session) Channels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.subs))
	for c := range s.subs {
		out = append(out, c)
	}
	return out
}

// Closed reports whether the router was told the connection closed.
func (s *Session) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
