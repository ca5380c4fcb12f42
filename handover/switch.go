package handover

import (
	"hash/maphash"
	"sync"
)

// Switch merges, in the successor, the two sources of cluster messages
// during the switch of the NATS subscription: what the old process relays
// (CHANNEL, Relayed) and what this process's own subscription receives
// (Own), so that each message is delivered exactly once and each origin's
// messages to a channel stay in order.
//
// The argument (docs/design.md, "Restart without reconnects"): every
// cluster message carries its origin (the publishing process) and a
// sequence number that grows with each message that origin publishes, in
// the order it sends them. The old process keeps its subscriptions until
// the successor's are up, then unsubscribes, relays everything it had
// received, and sends NATSEND. The old process's subscription to a channel
// ends at one point of the NATS server's processing: each origin's messages
// to that channel before that point reached the old process, the ones after
// it only the successor. So, per origin and channel, every message only the
// successor receives is numbered above every message the old process
// relayed. Own holds what it receives until End, then delivers only the
// held messages numbered above the highest relayed one of their origin and
// channel; after End it delivers directly. The threshold is per channel
// because the old process's subscriptions to different channels end at
// different points (one UNSUB each); a per-origin threshold loses messages
// there (TestSwitchOverNATS caught it). Messages from this process and from
// the other process of the handover (Self) are never taken from the
// cluster: their publisher delivered them locally.
//
// A message without an origin (Origin 0: a backend publishing plain JSON has
// neither origin nor number) can only be recognised by its content: the
// relayed ones are counted by channel and payload hash, and at End each held
// one is dropped if an equal one was relayed and not matched yet. Distinct
// payloads are therefore delivered exactly once; two equal payloads on one
// channel, one received only by the old process before the successor
// subscribed and one only by the successor after the old process
// unsubscribed, count as one (at most once, as NATS core is). After End such
// messages are delivered directly.
type Switch struct {
	mu        sync.Mutex
	self      []uint64
	hi        map[uint64]map[string]uint64 // origin -> channel -> highest relayed
	anon      map[anonKey]int              // origin-less relayed messages not matched yet
	seed      maphash.Seed
	held      []Message
	heldBytes int64
	maxHeld   int
	maxBytes  int64
	ended     bool
	stats     SwitchStats
}

// anonKey names an origin-less message by its channel and payload hash.
type anonKey struct {
	channel string
	hash    uint64
}

func (s *Switch) anonKey(m Message) anonKey {
	return anonKey{string(m.Channel), maphash.Bytes(s.seed, m.Payload)}
}

// SwitchConfig sets up a Switch. Zero bounds pick the defaults.
type SwitchConfig struct {
	// Self lists the origins never taken from the cluster: this process's
	// and the other process's (Hello.Origin, Start.Origin).
	Self []uint64
	// MaxHeld and MaxHeldBytes bound what Own holds before End (defaults
	// 100,000 messages, 64 MiB); MaxHeld also bounds the distinct
	// origin-less relayed messages kept to match them. Past a bound the
	// switch ends early: held messages are released, and messages the old
	// process relays after that are dropped and counted as Late.
	MaxHeld      int
	MaxHeldBytes int64
}

// SwitchStats counts what the switch did.
type SwitchStats struct {
	Relayed    uint64 // delivered from the old process's relay
	Own        uint64 // delivered from this process's subscription
	Duplicates uint64 // own messages the relay had delivered already
	Self       uint64 // own messages from Self origins, dropped
	Late       uint64 // relayed after the switch ended early, dropped
	Held       uint64 // held at most at once
	Forced     bool   // the switch ended early (a bound was reached)
}

// NewSwitch returns a switch waiting for End.
func NewSwitch(cfg SwitchConfig) *Switch {
	if cfg.MaxHeld <= 0 {
		cfg.MaxHeld = 100_000
	}
	if cfg.MaxHeldBytes <= 0 {
		cfg.MaxHeldBytes = 64 << 20
	}
	return &Switch{
		self: append([]uint64(nil), cfg.Self...), hi: make(map[uint64]map[string]uint64),
		anon: make(map[anonKey]int), seed: maphash.MakeSeed(),
		maxHeld: cfg.MaxHeld, maxBytes: cfg.MaxHeldBytes,
	}
}

// Relayed takes a message the old process relayed and delivers it. deliver
// runs under the switch's lock, so deliveries from both sources are
// serialized in the order the switch decides.
func (s *Switch) Relayed(m Message, deliver func(Message)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		s.stats.Late++
		return
	}
	if m.Origin == 0 {
		s.anon[s.anonKey(m)]++
		s.stats.Relayed++
		deliver(m)
		// What is kept to match them is bounded like what Own holds.
		if len(s.anon) >= s.maxHeld {
			s.stats.Forced = true
			s.end(deliver)
		}
		return
	}
	byCh := s.hi[m.Origin]
	if byCh == nil {
		byCh = make(map[string]uint64)
		s.hi[m.Origin] = byCh
	}
	if m.Seq > byCh[string(m.Channel)] {
		byCh[string(m.Channel)] = m.Seq
	}
	s.stats.Relayed++
	deliver(m)
}

// Own takes a message from this process's own subscription: before End it
// is held (the Switch keeps m until then; the caller must not reuse its
// slices), after End it is delivered unless the relay delivered it.
func (s *Switch) Own(m Message, deliver func(Message)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isSelf(m.Origin) {
		s.stats.Self++
		return
	}
	if !s.ended {
		s.held = append(s.held, m)
		s.heldBytes += int64(len(m.Payload) + len(m.Channel))
		s.stats.Held = max(s.stats.Held, uint64(len(s.held)))
		if len(s.held) >= s.maxHeld || s.heldBytes >= s.maxBytes {
			s.stats.Forced = true
			s.end(deliver)
		}
		return
	}
	s.own(m, deliver)
}

func (s *Switch) own(m Message, deliver func(Message)) {
	if m.Origin == 0 {
		if k := s.anonKey(m); s.anon[k] > 0 {
			s.anon[k]--
			s.stats.Duplicates++
			return
		}
		s.stats.Own++
		deliver(m)
		return
	}
	if m.Seq <= s.hi[m.Origin][string(m.Channel)] {
		s.stats.Duplicates++
		return
	}
	s.stats.Own++
	deliver(m)
}

// End is NATSEND: the relay is complete. Held messages are released in the
// order they arrived, minus the ones the relay delivered. The thresholds
// stay: a message the old process relayed can still arrive through the
// successor's own subscription after End (it was in flight). Calling it again
// does nothing.
func (s *Switch) End(deliver func(Message)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end(deliver)
}

func (s *Switch) end(deliver func(Message)) {
	if s.ended {
		return
	}
	s.ended = true
	held := s.held
	s.held, s.heldBytes = nil, 0
	for _, m := range held {
		s.own(m, deliver)
	}
	// Unmatched origin-less relays were received before this process
	// subscribed: keeping them would drop a later message with equal content.
	s.anon = nil
}

// Ended reports whether End was called (or a bound forced it).
func (s *Switch) Ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

func (s *Switch) isSelf(origin uint64) bool {
	for _, o := range s.self {
		if o == origin {
			return true
		}
	}
	return false
}

// Stats returns the counters.
func (s *Switch) Stats() SwitchStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
