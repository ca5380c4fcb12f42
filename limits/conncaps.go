package limits

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// ConnCaps counts open connections globally and per address key (Key(ip):
// IPv6 grouped by /64) and refuses new ones at the caps. Safe for concurrent
// use.
//
// Every admitted Acquire must be paired with exactly one Release of the same
// ip. Release is guarded: a Release with nothing to release (double release,
// or release without acquire) changes nothing and returns false, so the
// counts never go negative; a false return is a bug in the caller worth a
// log line.
type ConnCaps struct {
	perIP  int32
	global int64
	active atomic.Int64
	h      hasher
	shards []capShard // nil when perIP is off
}

type capShard struct {
	mu sync.Mutex
	m  map[[16]byte]int32 // key16 -> open connections; entries at 0 are deleted
	_  cacheLinePad
}

// NewConnCaps returns caps of perIP connections per key (-max-conns-per-ip)
// and global connections (-max-conns); 0 (or less) switches a cap off. The
// global count is kept (Active) even when its cap is off; per-key counts are
// kept only when the per-key cap is on.
func NewConnCaps(perIP, global int) *ConnCaps {
	c := &ConnCaps{global: int64(max(global, 0))}
	if perIP > 0 {
		c.perIP = int32(min(perIP, 1<<30))
		c.h = newHasher()
		c.shards = make([]capShard, numShards)
		for i := range c.shards {
			c.shards[i].m = make(map[[16]byte]int32)
		}
	}
	return c
}

// Acquire admits one connection from ip, or returns the reason it is refused
// (ReasonGlobalCap, checked first because it is one atomic add, or
// ReasonIPCap). ReasonNone means admitted; Release must follow.
func (c *ConnCaps) Acquire(ip netip.Addr) Reason {
	n := c.active.Add(1)
	if c.global > 0 && n > c.global {
		c.active.Add(-1)
		return ReasonGlobalCap
	}
	if c.shards == nil {
		return ReasonNone
	}
	k := key16(ip)
	s := &c.shards[c.h.shard(k, numShards)]
	s.mu.Lock()
	v := s.m[k]
	if v >= c.perIP {
		s.mu.Unlock()
		c.active.Add(-1)
		return ReasonIPCap
	}
	s.m[k] = v + 1
	s.mu.Unlock()
	return ReasonNone
}

// Release gives back a connection admitted by Acquire(ip). It reports
// whether there was one to give back.
func (c *ConnCaps) Release(ip netip.Addr) bool {
	if c.shards != nil {
		k := key16(ip)
		s := &c.shards[c.h.shard(k, numShards)]
		s.mu.Lock()
		v, ok := s.m[k]
		switch {
		case !ok:
			s.mu.Unlock()
			return false // never acquired: leave the global count alone too
		case v <= 1:
			delete(s.m, k)
		default:
			s.m[k] = v - 1
		}
		s.mu.Unlock()
	}
	return c.ReleaseGlobal()
}

// AcquireGlobal admits one connection against the global cap only (peers
// exempt from per-IP limits); ReleaseGlobal must follow.
func (c *ConnCaps) AcquireGlobal() Reason {
	if n := c.active.Add(1); c.global > 0 && n > c.global {
		c.active.Add(-1)
		return ReasonGlobalCap
	}
	return ReasonNone
}

// ReleaseGlobal gives back a connection admitted by AcquireGlobal.
func (c *ConnCaps) ReleaseGlobal() bool {
	for {
		n := c.active.Load()
		if n <= 0 {
			return false
		}
		if c.active.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// Active is the number of admitted, not yet released connections.
func (c *ConnCaps) Active() int { return int(c.active.Load()) }

// PerIP is the number of open connections counted for ip's key (0 when the
// per-key cap is off).
func (c *ConnCaps) PerIP(ip netip.Addr) int {
	if c.shards == nil {
		return 0
	}
	k := key16(ip)
	s := &c.shards[c.h.shard(k, numShards)]
	s.mu.Lock()
	v := s.m[k]
	s.mu.Unlock()
	return int(v)
}

// Keys is the number of keys with at least one open connection.
func (c *ConnCaps) Keys() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
