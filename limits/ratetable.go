package limits

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// DefaultMaxEntries is the RateTable size used when RateConfig.MaxEntries is
// not positive: about 1M tracked addresses, ~40 MiB (see README.md).
const DefaultMaxEntries = 1 << 20

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
	// Now returns monotonic nanoseconds; nil uses the time elapsed since
	// NewRateTable. Tests inject a fake clock.
	Now func() int64
}

// RateTable is a per-address token bucket for new connections, keyed by
// Key(ip) (IPv6 grouped by /64). It is safe for concurrent use.
//
// Each key holds one int64: the GCRA "theoretical arrival time" (the moment
// its bucket will be full again). A key whose bucket is full behaves exactly
// like an absent key, so such entries are deleted: lazily, by a sweep of a
// shard after as many insertions as it had live entries (amortized O(1) per
// insertion), and by Sweep, which a server may call periodically to give
// memory back after a flood. Neither is needed for correctness or for the
// memory bound.
//
// At MaxEntries (split evenly over the shards) a new key evicts the entry
// closest to full among a small random sample of its shard. Eviction forgets
// the least (a nearly full bucket is nearly equivalent to none), memory stays
// fixed, and new clients are still tracked and limited. The price under a
// flood from more distinct keys than MaxEntries is that an evicted key starts
// again with a full burst; the connection caps still apply.
type RateTable struct {
	interval  int64 // nanoseconds per token
	tolerance int64 // (burst-1) * interval
	perShard  int
	now       func() int64
	h         hasher
	shards    []rateShard
}

type rateShard struct {
	mu      sync.Mutex
	m       map[[16]byte]int64 // key16 -> theoretical arrival time; pointer-free, so GC does not scan it
	inserts int                // since the last sweep
	live    int                // len(m) after the last sweep
	peak    int                // largest len(m) since the map was made
	_       cacheLinePad
}

// evictSample is how many entries an insertion at the bound looks at.
const evictSample = 8

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
	if iv < 1 {
		iv = 1
	}
	if iv > maxSpan {
		iv = maxSpan
	}
	t.interval = int64(iv)
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
	t.h = newHasher()
	t.shards = make([]rateShard, n)
	for i := range t.shards {
		t.shards[i].m = make(map[[16]byte]int64)
	}
	return t
}

// Allow takes a token for ip's key. When refused, retryAfter is the wait
// until a token is available, rounded up to whole seconds (at least 1s), for
// the Retry-After header. It does not allocate except when a map grows.
func (t *RateTable) Allow(ip netip.Addr) (ok bool, retryAfter time.Duration) {
	if t == nil || t.interval == 0 {
		return true, 0
	}
	return t.AllowAt(ip, t.now())
}

// AllowAt is Allow at a given time (monotonic nanoseconds, same clock as
// RateConfig.Now), for callers that already read the clock.
func (t *RateTable) AllowAt(ip netip.Addr, now int64) (ok bool, retryAfter time.Duration) {
	if t == nil || t.interval == 0 {
		return true, 0
	}
	k := key16(ip)
	s := &t.shards[t.h.shard(k, len(t.shards))]
	s.mu.Lock()
	tat, found := s.m[k]
	if tat < now {
		tat = now
	}
	if wait := tat - now - t.tolerance; wait > 0 {
		s.mu.Unlock()
		return false, roundUpSeconds(wait)
	}
	if !found {
		s.makeRoom(now, t.perShard)
	}
	s.m[k] = tat + t.interval
	if !found && len(s.m) > s.peak {
		s.peak = len(s.m)
	}
	s.mu.Unlock()
	return true, 0
}

// makeRoom runs before an insertion, with s.mu held.
func (s *rateShard) makeRoom(now int64, limit int) {
	s.inserts++
	if s.inserts >= max(s.live, 32) {
		s.sweep(now)
	}
	if len(s.m) < limit {
		return
	}
	var victim [16]byte
	oldest, n := int64(math.MaxInt64), 0
	for k, tat := range s.m { // map iteration starts at a random place
		if tat < oldest {
			victim, oldest = k, tat
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(s.m, victim)
}

// sweep deletes full buckets and, when the map has shrunk to a quarter of
// its peak, copies it into a smaller one (Go maps never shrink in place).
// With s.mu held.
func (s *rateShard) sweep(now int64) {
	for k, tat := range s.m {
		if tat <= now {
			delete(s.m, k)
		}
	}
	n := len(s.m)
	if s.peak >= 1024 && n < s.peak/4 {
		m := make(map[[16]byte]int64, n)
		for k, v := range s.m {
			m[k] = v
		}
		s.m, s.peak = m, n
	}
	s.inserts, s.live = 0, n
}

// Sweep deletes every full bucket and releases map memory left over from a
// flood. Optional (the table stays bounded without it); a server may call it
// every few seconds. It locks one shard at a time.
func (t *RateTable) Sweep(now int64) {
	if t == nil {
		return
	}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.sweep(now)
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
		n += len(s.m)
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
