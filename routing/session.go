package routing

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/wsedge/wsedge/codec"
)

// Session is the router's state for one connection: identity, activity, the mailbox of
// messages waiting for a worker, and the channels it subscribes to. It is kept small because
// an edge node holds very many idle ones: an idle session owns no buffers and no maps, and a
// subscription costs it a record of 12 bytes (the hub's topic, which holds the name, and its
// slot in the topic's array; records come three to a 48-byte chunk: subs.go).
type Session struct {
	id          uint64
	connectedAt int64 // unix nanoseconds
	conn        Conn
	ident       atomic.Pointer[identity] // nil: anonymous

	mu        sync.Mutex               // guards everything below
	head      *envelope                // mailbox, FIFO; head.last is the tail
	pending   int32                    // messages accepted and not yet handled (in the mailbox or running)
	scheduled bool                     // queued on, or being drained by, a worker
	closed    bool                     // Closed was called: no more messages, no more subscriptions
	closing   bool                     // CloseAfterReplies was called: no more input; close once answered
	subs      atomic.Pointer[subChunk] // the channels subscribed to and the slots in them (subs.go)
	x         *sessionExtra
}

// sessionExtra is the state few sessions need, allocated on first use.
type sessionExtra struct {
	meta        map[string]any
	noteBytes   int // error replies waiting in the mailbox (see Router.Refuse)
	closeCode   codec.CloseCode
	closeReason string

	dhead, dtail *Deferred // deferred replies not sent yet, in the session's order (deferred.go)
	deferred     int       // of those, not answered yet
	heldBytes    int       // replies waiting behind them
}

// envelope is one mailbox entry: a pooled copy of a message, or (note) error replies decided
// before any worker saw them, each as a 4-byte little-endian length and the reply.
type envelope struct {
	buf  *bytebufferpool.ByteBuffer
	next *envelope
	last *envelope // of the head envelope only: the mailbox's tail
	note bool
}

// ID is unique among the sessions of this process for its lifetime (never reused).
func (s *Session) ID() uint64 { return s.id }

// ClientID names the connection uniquely in the cluster.
func (s *Session) ClientID() ClientID { return ClientID{Node: incarnation, Session: s.id} }

// RemoteIP is the client address the server attributed the connection to (its Conn's).
func (s *Session) RemoteIP() netip.Addr { return s.conn.RemoteIP() }

// ConnectedAt is when Open was called.
func (s *Session) ConnectedAt() time.Time { return time.Unix(0, s.connectedAt) }

// Conn is the session's connection.
func (s *Session) Conn() Conn { return s.conn }

// User is the id of the user the connection belongs to, "" when anonymous (Hub.SetIdentity).
func (s *Session) User() string {
	if id := s.ident.Load(); id != nil {
		return id.user()
	}
	return ""
}

// Info is the connection's info as raw JSON (for presence and the backend), nil if none.
// Read only.
func (s *Session) Info() []byte {
	if id := s.ident.Load(); id != nil {
		return id.info()
	}
	return nil
}

// Expires is when the connection's identity ends, in unix seconds (its token's exp, moved by
// a refresh); 0 when it does not expire or the connection is anonymous.
func (s *Session) Expires() int64 {
	if id := s.ident.Load(); id != nil {
		return int64(id.expires.Load())
	}
	return 0
}

// extra returns the session's rare state, allocating it. s.mu held.
func (s *Session) extra() *sessionExtra {
	if s.x == nil {
		s.x = new(sessionExtra)
	}
	return s.x
}

// Get returns the metadata value stored under key.
func (s *Session) Get(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.x == nil {
		return nil, false
	}
	v, ok := s.x.meta[key]
	return v, ok
}

// Set stores a metadata value under key; safe for concurrent use.
func (s *Session) Set(key string, v any) {
	s.mu.Lock()
	x := s.extra()
	if x.meta == nil {
		x.meta = make(map[string]any, 2)
	}
	x.meta[key] = v
	s.mu.Unlock()
}

// Delete removes the metadata value stored under key.
func (s *Session) Delete(key string) {
	s.mu.Lock()
	if s.x != nil {
		delete(s.x.meta, key)
	}
	s.mu.Unlock()
}

// Channels returns the names of the channels the session subscribes to, in no order.
func (s *Session) Channels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, subsPerChunk)
	s.eachSub(func(t *topic) { out = append(out, t.name()) })
	return out
}

// Subscribed reports whether the session subscribes to channel.
func (s *Session) Subscribed(channel []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, _, _ := s.findName(channel)
	return rec.c != nil
}

// NumChannels is the number of channels the session subscribes to.
func (s *Session) NumChannels() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	s.eachSub(func(*topic) { n++ })
	return n
}

// Closed reports whether the router was told the connection closed.
func (s *Session) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// push appends e to the mailbox. s.mu held.
func (s *Session) push(e *envelope) {
	if s.head == nil {
		s.head, e.last = e, e
		return
	}
	s.head.last.next = e
	s.head.last = e
}

// tail is the last mailbox entry, nil when empty. s.mu held.
func (s *Session) tail() *envelope {
	if s.head == nil {
		return nil
	}
	return s.head.last
}

// pop removes the first mailbox entry. s.mu held, mailbox not empty.
func (s *Session) pop() *envelope {
	e := s.head
	s.head = e.next
	if s.head != nil {
		s.head.last = e.last
	}
	e.next, e.last = nil, nil
	return e
}

// takeMailbox empties the mailbox and returns its chain and how many messages (not notes) it
// held. s.mu held.
func (s *Session) takeMailbox() (head *envelope, msgs int32) {
	head = s.head
	s.head = nil
	for e := head; e != nil; e = e.next {
		if !e.note {
			msgs++
		}
	}
	s.pending -= msgs
	if s.x != nil {
		s.x.noteBytes = 0
	}
	return head, msgs
}
