package limits

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// DefaultMaxEntries is the RateTable bound used when RateConfig.MaxEntries
// is not positive: 786,432 keys, 12,288 per shard, which fill each shard's
// 16,384-slot table to exactly its 3/4 load limit: 24 MiB when full.
const DefaultMaxEntries = 64 * 12288

// RateConfig configures a RateTable.
type RateConfig struct {
	// PerMinute is the sustained rate of new connections per address key
	// (-conn-rate). 0 (or less) switches the limit off.
	PerMinute float64
	// Burst is how many connections a fresh key may open at once
	// (-conn-burst). Values below 1 mean 1.
	Burst int
	// MaxEntries bounds the number of tracked keys (memory). Not positive:
	// DefaultMaxEntries. See RateTable for what happens at the bound.
	MaxEntries int
	// Now returns monotonic, non-negative nanoseconds; nil uses the time
	// elapsed since NewRateTable. Tests inject a fake clock.
	Now func() int64
}

// RateTable is a per-address token bucket for new connections, keyed by
// Key(ip) (IPv6 grouped by /64). It is safe for concurrent use.
//
// Each key holds one int64: the GCRA "theoretical arrival time", the moment
// its bucket is full again. The entries live in 64 shards, each a mutex and
// a pointer-free open-addressing table of 24-byte slots (the garbage
// collector never scans it). A key whose bucket is full behaves exactly like
// an absent key, so such entries are deleted: lazily, by a sweep of a shard
// after as many insertions as it had live entries (amortized O(1) per
// insertion), and by Sweep, which the server calls every 10 seconds to give
// memory back after a flood. Neither is needed for correctness or for the
// memory bound.
//
// At MaxEntries (split evenly over the shards) a new key evicts the fullest
// bucket among a few entries sampled at a random place in its shard. Eviction
// forgets the least (a nearly full bucket is nearly equivalent to none),
// memory stays fixed, and new clients are still tracked and limited. The
// price under a flood from more distinct keys than MaxEntries is that an
// evicted key starts again with a full burst; the connection caps still
// apply. Keys that keep connecting have the emptiest buckets and are the last
// to be evicted.
type RateTable struct {
	interval  int64 // nanoseconds per token
	tolerance int64 // (burst-1) * interval
	perShard  int
	shift     uint // hash >> shift picks the shard
	now       func() int64
	h         hasher
	shards    []rateShard
}

type rateEntry struct {
	key [16]byte // key16
	tat int64    // 0 marks an empty slot
}

type rateShard struct {
	mu      sync.Mutex
	slots   []rateEntry // linear probing, len a power of two or 0
	n       int         // occupied slots
	inserts int         // since the last sweep
	live    int         // n after the last sweep
	rng     uint64      // xorshift state for eviction sampling
	_       cacheLinePad
}

const (
	evictSample = 8  // entries an insertion at the bound looks at
	minSlots    = 16 // smallest table
)

// NewRateTable returns a table for cfg. With cfg.PerMinute <= 0 it returns
// a table whose Allow always admits and tracks nothing.
func NewRateTable(cfg RateConfig) *RateTable {
	t := &RateTable{now: cfg.Now}
	if t.now == nil {
		base := time.Now()
		t.now = func() int64 { return int64(time.Since(base)) }
	}
	if !(cfg.PerMinute > 0) {
		return t
	}
	const maxSpan = math.MaxInt64 / 4 // keeps tat arithmetic far from overflow
	iv := float64(time.Minute) / cfg.PerMinute
	t.interval = int64(min(max(iv, 1), maxSpan))
	burst := max(cfg.Burst, 1)
	if int64(burst-1) > maxSpan/t.interval {
		t.tolerance = maxSpan
	} else {
		t.tolerance = int64(burst-1) * t.interval
	}
	maxEntries := cfg.MaxEntries
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	n := numShards
	for n > 1 && n > maxEntries {
		n /= 2
	}
	t.perShard = maxEntries / n
	t.shift = 64 - shardBits(n)
	t.h = newHasher()
	t.shards = make([]rateShard, n)
	for i := range t.shards {
		t.shards[i].rng = rand.Uint64() | 1
	}
	return t
}

// Allow takes a token for ip's key. When refused, retryAfter is the wait
// until a token is available, rounded up to whole seconds (at least 1s), for
// the Retry-After header. It does not allocate except when a shard's table
// grows.
func (t *RateTable) Allow(ip netip.Addr) (ok bool, retryAfter time.Duration) {
	if t == nil || t.interval == 0 {
		return true, 0
	}
	return t.AllowAt(ip, t.now())
}

// AllowAt is Allow at a given time (same clock as RateConfig.Now), for
// callers that already read the clock.
func (t *RateTable) AllowAt(ip netip.Addr, now int64) (ok bool, retryAfter time.Duration) {
	if t == nil || t.interval == 0 {
		return true, 0
	}
	k := key16(ip)
	h := t.h.hash(k)
	s := &t.shards[h>>t.shift&uint64(len(t.shards)-1)]
	s.mu.Lock()
	i, found := s.find(k, h)
	tat := int64(0)
	if found {
		tat = s.slots[i].tat
	}
	tat = max(tat, now)
	if wait := tat - now - t.tolerance; wait > 0 {
		s.mu.Unlock()
		return false, roundUpSeconds(wait)
	}
	tat += t.interval
	if tat == 0 {
		tat = 1 // 0 marks empty; only reachable with a negative clock
	}
	if found {
		s.slots[i].tat = tat
	} else {
		s.insert(t, k, h, tat, now)
	}
	s.mu.Unlock()
	return true, 0
}

func shardBits(n int) uint {
	b := uint(0)
	for 1<<b < n {
		b++
	}
	return b
}

// find returns the slot holding k, or the empty slot where it would go.
func (s *rateShard) find(k [16]byte, h uint64) (int, bool) {
	if len(s.slots) == 0 {
		return -1, false
	}
	mask := len(s.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		e := &s.slots[i]
		if e.tat == 0 {
			return i, false
		}
		if e.key == k {
			return i, true
		}
	}
}

// insert adds an absent key, making room first. With s.mu held.
func (s *rateShard) insert(t *RateTable, k [16]byte, h uint64, tat, now int64) {
	s.inserts++
	if s.inserts >= max(s.live, 32) {
		s.sweep(t.h, now)
		s.shrink(t.h, 1024) // only flood leftovers; small tables stay put
	}
	if s.n >= t.perShard {
		s.evict(t.h)
	}
	if (s.n+1)*4 > len(s.slots)*3 { // keep load <= 3/4: short probes, always an empty slot
		s.resize(t.h, max(minSlots, 2*len(s.slots)))
	}
	i, _ := s.find(k, h)
	s.slots[i] = rateEntry{key: k, tat: tat}
	s.n++
}

// evict deletes the fullest bucket (smallest tat) among evictSample
// occupied slots from a random place. With s.mu held.
func (s *rateShard) evict(h hasher) {
	mask := len(s.slots) - 1
	s.rng ^= s.rng << 13
	s.rng ^= s.rng >> 7
	s.rng ^= s.rng << 17
	start := int(s.rng) & mask
	best, bestTat, seen := -1, int64(math.MaxInt64), 0
	for step := 0; step <= mask && seen < evictSample; step++ {
		i := (start + step) & mask
		if tat := s.slots[i].tat; tat != 0 {
			seen++
			if tat < bestTat {
				best, bestTat = i, tat
			}
		}
	}
	if best >= 0 {
		s.deleteAt(h, best)
	}
}

// deleteAt empties slot i and shifts the rest of its probe run back, so no
// tombstones are needed.
func (s *rateShard) deleteAt(h hasher, i int) {
	mask := len(s.slots) - 1
	for j := (i + 1) & mask; s.slots[j].tat != 0; j = (j + 1) & mask {
		home := int(h.hash(s.slots[j].key)) & mask
		// The entry at j may fill the hole at i unless its home lies
		// cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = rateEntry{}
	s.n--
}

// sweep deletes full buckets (tat <= now). With s.mu held.
func (s *rateShard) sweep(h hasher, now int64) {
	for i := 0; i < len(s.slots); {
		if tat := s.slots[i].tat; tat != 0 && tat <= now {
			s.deleteAt(h, i) // may move another entry into i: look again
			continue
		}
		i++
	}
	s.inserts, s.live = 0, s.n
}

// shrink gives back a table at most 1/8 full, leaving room for the count to
// double before it grows again (hysteresis, so a steady state never
// reallocates). With s.mu held.
func (s *rateShard) shrink(h hasher, least int) {
	if len(s.slots) > least && s.n*8 < len(s.slots) {
		size := minSlots
		for size*3 < s.n*4*2 { // room to double before the next growth
			size *= 2
		}
		s.resize(h, size)
	}
}

func (s *rateShard) resize(h hasher, size int) {
	old := s.slots
	s.slots = make([]rateEntry, size)
	mask := size - 1
	for _, e := range old {
		if e.tat == 0 {
			continue
		}
		i := int(h.hash(e.key)) & mask
		for s.slots[i].tat != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = e
	}
}

// Sweep deletes every full bucket and releases table memory left over from
// a flood. Optional (the table stays bounded without it); a server may call
// it every few seconds. It locks one shard at a time.
func (t *RateTable) Sweep(now int64) {
	if t == nil {
		return
	}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.sweep(t.h, now)
		if s.n == 0 {
			s.slots = nil
		} else {
			s.shrink(t.h, minSlots)
		}
		s.mu.Unlock()
	}
}

// Now reads the table's clock.
func (t *RateTable) Now() int64 { return t.now() }

// Len is the number of tracked keys (including full buckets not yet swept).
func (t *RateTable) Len() int {
	if t == nil {
		return 0
	}
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}

// Cap is the effective bound on Len (0 when the limit is off).
func (t *RateTable) Cap() int {
	if t == nil {
		return 0
	}
	return t.perShard * len(t.shards)
}

func roundUpSeconds(d int64) time.Duration {
	s := (d + int64(time.Second) - 1) / int64(time.Second)
	return time.Duration(max(s, 1)) * time.Second
}
