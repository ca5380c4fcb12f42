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
// 12 in the session's record; a channel is a 32-byte topic with a short name in the same
// object (48 bytes with a personal channel's name) and 8 bytes in its shard's table; a
// channel with one subscriber keeps it inside the topic.

// topic is one channel's local subscribers. Its fields are guarded by its hub shard's lock.
type topic struct {
	name string
	// p is the subscriber array's first element; while c == 1 it is the only subscriber
	// itself, so a channel of one (a personal channel) allocates no array.
	p    unsafe.Pointer
	n, c uint32 // subscribers, and the array's capacity
}

// newTopic makes the topic of a new channel. A name of up to 48 bytes is kept in the topic's
// own allocation: a personal channel ("personal.12345") is one 48-byte object instead of a
// 32-byte topic and a 16-byte string (the same bytes, one allocation fewer, and no small
// string left among the garbage of the same size class when the channel ends).
func newTopic(name []byte) *topic {
	switch n := len(name); {
	case n == 0:
		return &topic{c: 1}
	case n <= 16:
		return topicWithName[[16]byte](name)
	case n <= 32:
		return topicWithName[[32]byte](name)
	case n <= 48:
		return topicWithName[[48]byte](name)
	}
	return &topic{name: string(name), c: 1}
}

// topicWithName allocates a topic followed by B, copies name (len(name) <= len(B)) into B and
// points the topic's name at it: the string keeps the whole object, and only it, alive.
func topicWithName[B [16]byte | [32]byte | [48]byte](name []byte) *topic {
	x := new(struct {
		t topic
		b B
	})
	b := unsafe.Slice((*byte)(unsafe.Pointer(&x.b)), len(name))
	copy(b, name)
	x.t.name, x.t.c = unsafe.String(&b[0], len(b)), 1
	return &x.t
}

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
			case t.name == string(name):
				return subRef{c: k, i: j, t: t}, used, free
			default:
				used++
			}
		}
	}
	return subRef{}, used, free
}

// newRecord links a new chunk at the end of s's list and returns it. s.mu held.
func (s *Session) newRecord() *subChunk {
	c := new(subChunk)
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
