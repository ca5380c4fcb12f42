package routing

import (
	"hash/maphash"
	"sync"
	"unsafe"

	"github.com/wsedge/wsedge/internal/runalloc"
)

const hubShards = 32 // independent locks for unrelated channels

// DefaultMaxChannels is the per-session subscription cap of NewHub(0).
const DefaultMaxChannels = 64

// Hub is this node's side of channels and users: who subscribes to what, which connections
// belong to which user, and the fan-out of publications to them. With a Cluster (SetCluster)
// publications also reach the other nodes, and theirs arrive through Deliver. It is safe for
// concurrent use.
type Hub struct {
	maxPerSession   int
	seed            maphash.Seed
	shards          [hubShards]hubShard
	users           [hubShards]userShard
	scratch         sync.Pool                                     // *[]*Session: snapshot of a target's receivers for one delivery
	cluster         Cluster                                       // nil: this node alone
	member          func(s *Session, channel string, joined bool) // OnMembership; nil: none
	hashUser        func(string) uint64                           // tests: collisions in the user index; nil: maphash
	hashTopic       func(*topic) uint64                           // topicHash, as a value made once
	hashUserSession func(*Session) uint64                         // sessionUserHash, likewise

	// recs is the subscription records allocated for the next sessions to
	// subscribe: in runs, so that a ramp's records share spans with each
	// other rather than with its garbage (internal/runalloc; at most 64 KiB,
	// a sixteenth of the records held). recLive counts the records open
	// sessions hold.
	recMu   sync.Mutex
	recs    runalloc.Reserve[*subChunk]
	recLive int
}

type hubShard struct {
	mu     sync.RWMutex
	topics ptrTable[topic] // by name (subs.go)
}

// NewHub returns an empty hub allowing maxPerSession subscriptions per session: 0 means
// DefaultMaxChannels, a negative value no cap.
func NewHub(maxPerSession int) *Hub {
	if maxPerSession == 0 {
		maxPerSession = DefaultMaxChannels
	}
	h := &Hub{maxPerSession: maxPerSession, seed: maphash.MakeSeed()}
	h.recs = runalloc.New(unsafe.Sizeof(subChunk{}), runalloc.Fill[subChunk])
	h.hashTopic = h.topicHash
	h.hashUserSession = h.sessionUserHash
	h.scratch.New = func() any { return new([]*Session) }
	return h
}

// SetCluster connects the hub to the other nodes. Call it before the hub has subscribers or
// publishers, at most once.
func (h *Hub) SetCluster(c Cluster) { h.cluster = c }

// Cluster is the cluster set with SetCluster, nil when alone.
func (h *Hub) Cluster() Cluster { return h.cluster }

// shardOf returns the shard of channel and the name's hash, which also places the channel in
// the shard's table (lookup).
func (h *Hub) shardOf(channel string) (*hubShard, uint64) {
	hash := maphash.String(h.seed, channel)
	return &h.shards[hash%hubShards], hash
}

// lookup is the topic of channel in sh, nil if none. sh.mu held.
func (sh *hubShard) lookup(hash uint64, channel string) *topic {
	return sh.topics.get(hash, func(t *topic) bool { return t.name() == channel })
}

func (h *Hub) topicHash(t *topic) uint64 { return maphash.String(h.seed, t.name()) }

func (h *Hub) interest(kind Kind, target string, on bool) {
	if h.cluster != nil {
		h.cluster.Interest(kind, target, on)
	}
}

// Subscribe adds s to channel. Subscribing twice is not an error. It fails with INVALID_MESSAGE
// for an invalid name or past the per-session cap, and once the session is closed. When s is
// the channel's first local subscriber it waits for the cluster to confirm (Cluster.Interest,
// at most about a second with natsbroker), so that messages published once it returns reach
// s: call it from a worker (a handler), never from an event loop.
func (h *Hub) Subscribe(s *Session, channel []byte) error {
	_, err := h.SubscribeNotice(s, channel, nil)
	return err
}

// SubscribeNotice is Subscribe that reports whether s was added (false: it was subscribed
// already) and, when it was, queues notice to s (one text message, e.g. the server API's
// {"type":"subscribed","channel":…}; nil for none) before any message of the channel can
// reach s.
func (h *Hub) SubscribeNotice(s *Session, channel, notice []byte) (added bool, err error) {
	if !ValidChannel(channel) {
		return false, errChanInvalid
	}
	t, first, err := h.subscribe(s, channel, notice)
	if t != nil && notice != nil {
		s.conn.FlushSoon()
	}
	if first {
		h.interest(KindChannel, t.name(), true) // after every lock is released: it may wait
	}
	if t != nil && h.member != nil {
		h.member(s, t.name(), true)
	}
	return t != nil, err
}

// subscribe is Subscribe under s.mu; t is the channel s was added to (nil when it was
// subscribed already, or on error), first reports whether s is its first local subscriber.
func (h *Hub) subscribe(s *Session, channel, notice []byte) (t *topic, first bool, err error) {
	// s.mu is held across the hub update so that Closed, which takes s.mu first, sees either
	// no subscription or a complete one (lock order: session, then shard).
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, errSessionClosed
	}
	dup, used, rec := s.findName(channel)
	if dup.c != nil {
		return nil, false, nil
	}
	if h.maxPerSession > 0 && used >= h.maxPerSession {
		return nil, false, errTooManyChans
	}
	if rec.c == nil {
		rec = subRef{c: h.newRecord(s)}
	}
	// The shard is found from the bytes; the name is copied only for a new channel.
	name := unsafe.String(unsafe.SliceData(channel), len(channel))
	sh, hash := h.shardOf(name)
	sh.mu.Lock()
	t = sh.lookup(hash, name)
	if t == nil {
		t = newTopic(channel)
		sh.topics.insert(hash, t, h.hashTopic)
		first = true
	}
	rec.c.slot[rec.i] = t.add(s)
	rec.c.t[rec.i].Store(t)
	if notice != nil {
		// Under the shard lock: a Deliver that finds s among the subscribers runs after
		// this, so the notice is queued before the channel's first message.
		_ = s.conn.Send(notice)
	}
	sh.mu.Unlock()
	return t, first, nil
}

// Unsubscribe removes s from channel; unsubscribing from a channel not subscribed is not an
// error.
func (h *Hub) Unsubscribe(s *Session, channel []byte) error {
	_, err := h.UnsubscribeNotice(s, channel, nil)
	return err
}

// UnsubscribeNotice is Unsubscribe that reports whether s was removed (false: it was not
// subscribed) and, when it was, queues notice to s (e.g. {"type":"unsubscribed",…}; nil for
// none). A message of the channel already on its way to s may still follow the notice.
func (h *Hub) UnsubscribeNotice(s *Session, channel, notice []byte) (removed bool, err error) {
	if !ValidChannel(channel) {
		return false, errChanInvalid
	}
	s.mu.Lock()
	var t *topic
	removed, last := false, false
	if rec, _, _ := s.findName(channel); rec.c != nil {
		t = rec.t
		removed, last = h.unlink(rec.c, rec.i, t)
	}
	if removed && notice != nil && s.conn.Send(notice) == nil {
		s.conn.FlushSoon()
	}
	s.mu.Unlock()
	if last {
		h.interest(KindChannel, t.name(), false)
	}
	if removed && h.member != nil {
		h.member(s, t.name(), false)
	}
	return removed, nil
}

// drop removes a closed session from its channels; member says whether leave events are due
// (not for a session another process serves on: handover.go). It runs without s.mu (the
// membership hook may not be called under it); an Unsubscribe racing with it removes each
// channel once between them (unlink).
func (h *Hub) drop(s *Session, member bool) {
	chunks := 0
	for c := s.subs.Load(); c != nil; c = c.next.Load() {
		chunks++
		for i := range c.t {
			t := c.t[i].Load()
			if t == nil {
				continue
			}
			removed, last := h.unlink(c, i, t)
			if last {
				h.interest(KindChannel, t.name(), false)
			}
			if removed && member && h.member != nil {
				h.member(s, t.name(), false)
			}
		}
	}
	s.subs.Store(nil) // no longer in any array: nobody looks for its records
	if chunks > 0 {
		h.recMu.Lock()
		h.recLive -= chunks
		h.recMu.Unlock()
	}
}

// Compact gives back what a burst of subscriptions left unused: each channel's subscriber
// array moves to the smallest size class that holds it when that is smaller (an array grows
// by a quarter or more at a time, and a channel that stopped growing keeps the rest). It
// takes each shard's lock in turn, so publishes and subscribes wait at most for one shard's
// channels. It returns how many arrays moved. The server calls it after a burst of
// connections, before giving free memory back to the OS (-memory-trim-after).
func (h *Hub) Compact() int {
	moved := 0
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		sh.topics.each(func(t *topic) bool {
			if t.fit() {
				moved++
			}
			return true
		})
		sh.mu.Unlock()
	}
	return moved
}

// OnMembership sets f to be called each time a session joins a channel (a subscribe that
// added it) or leaves one (an unsubscribe that removed it, or its connection closing), after
// the hub's locks are released: the server sends join and leave events from it. f runs on
// the goroutine that made the change, which for a closing connection is an event loop: it
// must not block. Call it before the hub has subscribers, at most once.
func (h *Hub) OnMembership(f func(s *Session, channel string, joined bool)) { h.member = f }

// unlink takes a session out of t, whose record of it is c.t[i], and reports whether it did
// (false: a racing Unsubscribe or close did) and whether it was t's last local subscriber.
func (h *Hub) unlink(c *subChunk, i int, t *topic) (removed, last bool) {
	sh, hash := h.shardOf(t.name())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c.t[i].Load() != t {
		return false, false
	}
	slot := c.slot[i]
	c.t[i].Store(nil)
	if moved := t.removeAt(slot); moved != nil {
		mc, mi := moved.findSub(t)
		mc.slot[mi] = slot
	}
	if t.n == 0 {
		sh.topics.remove(hash, t, h.hashTopic)
		return true, true
	}
	return true, false
}

// Subscribers returns the number of local subscribers of channel.
func (h *Hub) Subscribers(channel string) int {
	sh, hash := h.shardOf(channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if t := sh.lookup(hash, channel); t != nil {
		return int(t.n)
	}
	return 0
}

// Receivers returns the number of local receivers of a target: the subscribers of a channel
// or the connections of a user.
func (h *Hub) Receivers(kind Kind, target string) int {
	switch kind {
	case KindChannel:
		return h.Subscribers(target)
	case KindUser:
		return h.UserConnections(target)
	}
	return 0
}

// Publish sends data (valid JSON, or nil for none) to every subscriber of channel on every
// node, as {"type":"message","channel":…,"data":…}. The message is built and framed once for
// this node (ChannelMessage). An invalid channel is an INVALID_MESSAGE *Error; a cluster
// failure is returned as is (nobody gets the message).
func (h *Hub) Publish(channel string, data []byte, opts PublishOptions) error {
	if !ValidChannel(channel) {
		return errChanInvalid
	}
	m := ChannelMessage(channel, data)
	// The name inside the immutable message is itself immutable: the publication's target
	// uses it instead of the caller's string, which may be a worker's scratch memory.
	p := m.Payload()[len(msgPrefix):]
	name := unsafe.String(unsafe.SliceData(p), len(channel))
	return h.Send(Publication{Kind: KindChannel, Target: name, Payload: m, Exclude: opts.Exclude})
}

// Send hands a prepared publication to its receivers: first to the cluster (when it fails,
// nobody gets it and the error is returned), then to this node's receivers (Deliver).
func (h *Hub) Send(p Publication) error {
	if h.cluster != nil {
		if err := h.cluster.Publish(p); err != nil {
			return err
		}
	}
	h.Deliver(p)
	return nil
}

// Deliver queues p's payload to every local receiver of its target (SendPrepared: the same
// bytes, framed once, by reference) except p.Exclude, and has each one flushed by its event
// loop (FlushSoon), so a fan-out's write calls run on every loop in parallel. A receiver whose
// connection refuses it is being closed (a slow consumer); it is counted in dropped and the
// others go on. The receiver list is copied under a read lock so that socket work never holds
// it. The Cluster calls Deliver for what other nodes publish.
func (h *Hub) Deliver(p Publication) (delivered, dropped int) {
	sp := h.scratch.Get().(*[]*Session)
	var subs []*Session
	switch p.Kind {
	case KindChannel:
		subs = h.channelSnapshot((*sp)[:0], p.Target)
	case KindUser:
		subs = h.userSnapshot((*sp)[:0], p.Target)
	}
	skip, exclude := p.Exclude.local()
	for _, s := range subs {
		if exclude && s.id == skip {
			continue
		}
		if s.conn.SendPrepared(p.Payload) != nil {
			dropped++
			continue
		}
		s.conn.FlushSoon()
		delivered++
	}
	clear(subs) // do not keep closed sessions reachable from the pool
	*sp = subs[:0]
	h.scratch.Put(sp)
	return delivered, dropped
}

// channelSnapshot appends the subscribers of channel to dst.
func (h *Hub) channelSnapshot(dst []*Session, channel string) []*Session {
	sh, hash := h.shardOf(channel)
	sh.mu.RLock()
	if t := sh.lookup(hash, channel); t != nil {
		dst = append(dst, t.list()...)
	}
	sh.mu.RUnlock()
	return dst
}

// SubscribedSessions calls f for each local subscriber of channel until f returns false
// (presence). f runs without any hub lock held.
func (h *Hub) SubscribedSessions(channel string, f func(*Session) bool) {
	sp := h.scratch.Get().(*[]*Session)
	list := h.channelSnapshot((*sp)[:0], channel)
	for _, s := range list {
		if !f(s) {
			break
		}
	}
	clear(list)
	*sp = list[:0]
	h.scratch.Put(sp)
}

// Channels calls f with each channel that has local subscribers and their number, in no
// order, until f returns false. f runs under a read lock of part of the hub: it must not
// subscribe or unsubscribe.
func (h *Hub) Channels(f func(name string, subscribers int) bool) {
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		more := sh.topics.each(func(t *topic) bool { return f(t.name(), int(t.n)) })
		sh.mu.RUnlock()
		if !more {
			return
		}
	}
}
