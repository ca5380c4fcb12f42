package routing

import (
	"sync/atomic"
	"unsafe"
)

// What a subscription costs (issue 19): an idle /ws connection subscribed to a personal
// channel and two shared ones is mostly subscriptions, so they hold no map and no object of
// their own. A channel keeps its subscribers in one compact array; each subscribed session
// keeps, in a record of its own, where in that array it sits (its slot). Removing a session
// swaps the array's last element into its slot and updates the moved session's record, so
// there is no per-channel index. A subscription is then 8 bytes in the channel's array and
// 12 in the session's record; a channel is a topic with its name in the same object (32
// bytes for a name of up to 15 bytes, such as a personal channel's) and 8 bytes in its
// shard's table; a channel with one subscriber keeps it inside the topic.

// topic is one channel's local subscribers. Its fields are guarded by its hub shard's lock;
// its name never changes.
type topic struct {
	// p is the subscriber array's first element; while c == 1 it is the only subscriber
	// itself, so a channel of one (a personal channel) allocates no array.
	p    unsafe.Pointer
	n, c uint32 // subscribers, and the array's capacity
	// The channel's name: its length, then its bytes, the first topicInline of them here and
	// the rest right after the topic, in the same allocation (newTopic). No string header:
	// a channel named in up to 15 bytes ("personal.12345") is one 32-byte object (issue 19).
	nlen uint8
	nb   [topicInline]byte
}

const topicInline = 15

// A name's length is a byte, and newTopic has room for every valid name.
var _ = [1]struct{}{}[max(0, MaxChannelLen-255, MaxChannelLen-topicInline-maxTail)]

// name is the channel's name. The string points into the topic: holding it keeps the topic
// (not more) allocated.
func (t *topic) name() string { return unsafe.String(&t.nb[0], int(t.nlen)) }

// newTopic makes the topic of a new channel, its name in the same allocation (tailed): 32
// bytes for a name of up to 15 bytes, then the size class that fits. name is a valid channel
// name (at most MaxChannelLen bytes).
func newTopic(name []byte) *topic {
	t := tailed[topic](len(name) - topicInline)
	t.c, t.nlen = 1, uint8(len(name))
	copy(unsafe.Slice(&t.nb[0], len(name)), name)
	return t
}

// The inline bytes end the topic exactly, so the rest of a name continues them.
var _ = [1]struct{}{}[unsafe.Sizeof(topic{})-unsafe.Offsetof(topic{}.nb)-topicInline]

// all is the whole array, capacity included (its elements past n are nil).
func (t *topic) all() []*Session {
	if t.c == 1 {
		return unsafe.Slice((**Session)(unsafe.Pointer(&t.p)), 1)
	}
	return unsafe.Slice((**Session)(t.p), t.c)
}

// list is the subscribers.
func (t *topic) list() []*Session { return t.all()[:t.n] }

// add appends s and returns its slot.
func (t *topic) add(s *Session) uint32 {
	if t.n == t.c {
		// append's growth: doubling while small, then about 1.25x, rounded to a size class.
		a := append(t.list(), s)
		t.p, t.c = unsafe.Pointer(unsafe.SliceData(a)), uint32(cap(a))
	} else {
		t.all()[t.n] = s
	}
	t.n++
	return t.n - 1
}

// removeAt takes out the subscriber at slot i and returns the one moved into its place (nil
// when i was the last). The array shrinks to half when a quarter full, so a channel that
// lost most of its subscribers gives the memory back, and one that gains and loses a
// subscriber over and over reallocates nothing.
func (t *topic) removeAt(i uint32) (moved *Session) {
	a := t.all()
	last := t.n - 1
	if i != last {
		moved = a[last]
		a[i] = moved
	}
	a[last] = nil
	t.n = last
	if t.c > 2 && t.n > 0 && t.n*4 <= t.c {
		b := make([]*Session, t.n, t.c/2)
		copy(b, a[:t.n])
		t.p, t.c = unsafe.Pointer(unsafe.SliceData(b)), uint32(cap(b))
	}
	return moved
}

// fit moves the subscribers to an array of the smallest size class that holds them when that
// is smaller, and reports whether it did: append's growth leaves much of an array unused
// (over half right after it grows), which a channel that stopped growing keeps
// (Hub.Compact). The order, and so every record's slot, stays. Under the shard's lock.
func (t *topic) fit() bool {
	if t.c == 1 || t.n < 2 || t.n*4 >= t.c*3 {
		return false // inline, or at most a quarter unused: not worth a copy
	}
	a := append([]*Session(nil), t.list()...) // append rounds the capacity up to the size class
	if uint32(cap(a)) >= t.c {
		return false
	}
	t.p, t.c = unsafe.Pointer(unsafe.SliceData(a)), uint32(cap(a))
	return true
}

const subsPerChunk = 3 // 48 bytes, a size class: one chunk holds the common one to three

// subChunk is a session's record of up to three subscriptions: the channel and the slot the
// session has in its array. A session's chunks form a list (Session.subs) that only grows
// while the session is open and whose chunks never move, so the hub can update the slot of a
// session it moves in a channel's array while holding only that channel's shard lock. The
// channel pointers are atomic because the session meanwhile changes its other records, under
// its own lock and other channels' locks. t[i] changes under the session's lock (subscribe,
// unsubscribe) or after it is closed, always under t[i]'s shard lock too; slot[i] is guarded
// by t[i]'s shard lock. A record whose t is nil is free.
type subChunk struct {
	t    [subsPerChunk]atomic.Pointer[topic]
	slot [subsPerChunk]uint32
	next atomic.Pointer[subChunk]
}

// findSub returns s's record of t. Stable only under t's shard lock, under which it exists
// exactly while s is in t's array.
func (s *Session) findSub(t *topic) (*subChunk, int) {
	for c := s.subs.Load(); c != nil; c = c.next.Load() {
		for i := range c.t {
			if c.t[i].Load() == t {
				return c, i
			}
		}
	}
	return nil, 0
}

// subRef is one of a session's records: chunk c's i-th, and the channel t it held when read.
type subRef struct {
	c *subChunk
	i int
	t *topic
}

// findName returns s's record of the channel named name (c nil: not subscribed), how many
// records are in use and the first free one (c nil: none). s.mu held. A closing session's
// records may be cleared meanwhile (drop), so the channel read here is returned with
// the record, for unlink to check it is still there.
func (s *Session) findName(name []byte) (found subRef, used int, free subRef) {
	for k := s.subs.Load(); k != nil; k = k.next.Load() {
		for j := range k.t {
			t := k.t[j].Load()
			switch {
			case t == nil:
				if free.c == nil {
					free = subRef{c: k, i: j}
				}
			case t.name() == string(name):
				return subRef{c: k, i: j, t: t}, used, free
			default:
				used++
			}
		}
	}
	return subRef{}, used, free
}

// newRecord links a new chunk at the end of s's list and returns it. s.mu held.
func (h *Hub) newRecord(s *Session) *subChunk {
	h.recMu.Lock()
	c := h.recs.Get(h.recLive)
	h.recLive++
	h.recMu.Unlock()
	last := s.subs.Load()
	if last == nil {
		s.subs.Store(c)
		return c
	}
	for n := last.next.Load(); n != nil; n = last.next.Load() {
		last = n
	}
	last.next.Store(c)
	return c
}

// eachSub calls f with every channel s subscribes to. s.mu held, or s closed.
func (s *Session) eachSub(f func(*topic)) {
	for c := s.subs.Load(); c != nil; c = c.next.Load() {
		for i := range c.t {
			if t := c.t[i].Load(); t != nil {
				f(t)
			}
		}
	}
}
