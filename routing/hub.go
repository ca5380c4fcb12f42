package routing

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// Broker carries a publish to the subscribers of a channel. The in-process Broker is the Hub
// itself. A distributed broker (NATS) sends the frame to every node and hands what it receives
// to its node's Hub.Deliver; subscriptions stay local to each node.
type Broker interface {
	// Publish delivers frame, an encoded server-to-client text frame whose payload is
	// {"type":"message","channel":...,"data":...}, to every subscriber of channel. frame is
	// immutable and may be retained; channel may share its memory. An error means the broker
	// is unreachable (answered UNAVAILABLE).
	Publish(channel string, frame []byte) error
}

const hubShards = 32 // independent locks for unrelated channels

// DefaultMaxChannels is the per-session subscription cap of NewHub(0).
const DefaultMaxChannels = 64

// Hub holds this node's channel subscriptions and fans frames out to them. It is safe for
// concurrent use.
type Hub struct {
	maxPerSession int
	seed          maphash.Seed
	shards        [hubShards]hubShard
	scratch       sync.Pool // *[]*Session: snapshot of a channel's subscribers for one delivery

	interest atomic.Pointer[func(channel string, subscribed bool)] // see OnInterest
}

type hubShard struct {
	mu     sync.RWMutex
	topics map[string]*topic
}

// topic is one channel's subscribers: a slice to iterate fast, an index for O(1) removal.
type topic struct {
	name string
	subs []*Session
	idx  map[*Session]int
}

// NewHub returns an empty hub allowing maxPerSession subscriptions per session: 0 means
// DefaultMaxChannels, a negative value no cap.
func NewHub(maxPerSession int) *Hub {
	if maxPerSession == 0 {
		maxPerSession = DefaultMaxChannels
	}
	h := &Hub{maxPerSession: maxPerSession, seed: maphash.MakeSeed()}
	h.scratch.New = func() any { return new([]*Session) }
	return h
}

func (h *Hub) shard(ch []byte) *hubShard {
	return &h.shards[maphash.Bytes(h.seed, ch)%hubShards]
}

func (h *Hub) shardString(ch string) *hubShard {
	return &h.shards[maphash.String(h.seed, ch)%hubShards]
}

// Subscribe adds s to channel. Subscribing twice is not an error. It fails with INVALID_MESSAGE
// for an invalid name or past the per-session cap, and once the session is closed.
func (h *Hub) Subscribe(s *Session, channel []byte) error {
	if !ValidChannel(channel) {
		return errChanInvalid
	}
	first, err := h.subscribe(s, channel)
	if first != "" {
		h.notifyInterest(first, true) // after every lock is released: the hook may block
	}
	return err
}

// subscribe is Subscribe under s.mu; first is the channel's name when s is its first local
// subscriber.
func (h *Hub) subscribe(s *Session, channel []byte) (first string, err error) {
	// s.mu is held across the hub update so that Closed, which takes s.mu first, sees either
	// no subscription or a complete one (lock order: session, then shard).
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errSessionClosed
	}
	if _, ok := s.subs[string(channel)]; ok {
		return "", nil
	}
	if h.maxPerSession > 0 && len(s.subs) >= h.maxPerSession {
		return "", errTooManyChans
	}
	sh := h.shard(channel)
	sh.mu.Lock()
	t := sh.topics[string(channel)]
	if t == nil {
		t = &topic{name: string(channel), idx: make(map[*Session]int)}
		if sh.topics == nil {
			sh.topics = make(map[string]*topic)
		}
		sh.topics[t.name] = t
		first = t.name
	}
	t.idx[s] = len(t.subs)
	t.subs = append(t.subs, s)
	sh.mu.Unlock()
	if s.subs == nil {
		s.subs = make(map[string]struct{}, 1)
	}
	s.subs[t.name] = struct{}{}
	return first, nil
}

// Unsubscribe removes s from channel; unsubscribing from a channel not subscribed is not an
// error.
func (h *Hub) Unsubscribe(s *Session, channel []byte) error {
	if !ValidChannel(channel) {
		return errChanInvalid
	}
	s.mu.Lock()
	if _, ok := s.subs[string(channel)]; !ok {
		s.mu.Unlock()
		return nil
	}
	delete(s.subs, string(channel))
	last := h.remove(h.shard(channel), string(channel), s)
	s.mu.Unlock()
	if last != "" {
		h.notifyInterest(last, false)
	}
	return nil
}

// dropAll removes a closed session from the channels in subs.
func (h *Hub) dropAll(s *Session, subs map[string]struct{}) {
	for name := range subs {
		if last := h.remove(h.shardString(name), name, s); last != "" {
			h.notifyInterest(last, false)
		}
	}
}

// remove takes s out of channel name; last is the name when s was its last local subscriber.
func (h *Hub) remove(sh *hubShard, name string, s *Session) (last string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := sh.topics[name]
	if t == nil {
		return ""
	}
	i, ok := t.idx[s]
	if !ok {
		return ""
	}
	end := len(t.subs) - 1
	moved := t.subs[end]
	t.subs[i] = moved
	t.idx[moved] = i
	t.subs[end] = nil
	t.subs = t.subs[:end]
	delete(t.idx, s)
	if end == 0 {
		delete(sh.topics, name)
		return t.name
	}
	return ""
}

// Subscribers returns the number of local subscribers of channel.
func (h *Hub) Subscribers(channel string) int {
	sh := h.shardString(channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if t := sh.topics[channel]; t != nil {
		return len(t.subs)
	}
	return 0
}

// Publish delivers frame to the local subscribers: the in-process Broker. It never fails.
func (h *Hub) Publish(channel string, frame []byte) error {
	h.Deliver(channel, frame)
	return nil
}

// Deliver queues the same frame bytes to every local subscriber of channel (WriteFrame, by
// reference) and has each one flushed. A subscriber whose write queue refuses the frame is being
// closed as a slow consumer by its connection; it is counted in dropped and the others go on.
// The subscriber list is copied under a read lock so that slow socket work never holds the lock.
// The writes themselves are left to the subscribers' event loops (FlushSoon), so a fan-out's
// write calls run on every loop in parallel rather than one after the other here.
func (h *Hub) Deliver(channel string, frame []byte) (delivered, dropped int) {
	sh := h.shardString(channel)
	sh.mu.RLock()
	t := sh.topics[channel]
	if t == nil {
		sh.mu.RUnlock()
		return 0, 0
	}
	sp := h.scratch.Get().(*[]*Session)
	subs := append((*sp)[:0], t.subs...)
	sh.mu.RUnlock()
	for _, s := range subs {
		if s.conn.WriteFrame(frame) != nil {
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
