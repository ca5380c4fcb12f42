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
	mu    sync.Mutex
	m     map[[16]byte]uint32 // key16 -> index in slots of its count
	slots []capSlot           // counts; a slot is reused once its count drops to 0
	free  []uint32
	_     cacheLinePad
}

type capSlot struct {
	key [16]byte
	n   int32
}

// A slot handle: the shard in the top bits, the slot index below, so that
// a connection can release its count with 4 bytes instead of its address.
const (
	slotBits = 24
	slotMask = 1<<slotBits - 1
)

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
			c.shards[i].m = make(map[[16]byte]uint32)
		}
	}
	return c
}

// Acquire admits one connection from ip, or returns the reason it is refused
// (ReasonGlobalCap, checked first because it is one atomic add, or
// ReasonIPCap). ReasonNone means admitted; Release must follow.
func (c *ConnCaps) Acquire(ip netip.Addr) Reason {
	_, r := c.acquire(ip)
	return r
}

// acquire is Acquire returning the handle of the per-key count (0 when the
// per-key cap is off).
func (c *ConnCaps) acquire(ip netip.Addr) (handle uint32, r Reason) {
	n := c.active.Add(1)
	if c.global > 0 && n > c.global {
		c.active.Add(-1)
		return 0, ReasonGlobalCap
	}
	if c.shards == nil {
		return 0, ReasonNone
	}
	k := key16(ip)
	si := c.h.shard(k, numShards)
	s := &c.shards[si]
	s.mu.Lock()
	i, ok := s.m[k]
	if ok && s.slots[i].n >= c.perIP {
		s.mu.Unlock()
		c.active.Add(-1)
		return 0, ReasonIPCap
	}
	if !ok {
		if f := len(s.free); f > 0 {
			i = s.free[f-1]
			s.free = s.free[:f-1]
		} else {
			i = uint32(len(s.slots))
			s.slots = append(s.slots, capSlot{})
		}
		s.slots[i] = capSlot{key: k}
		s.m[k] = i
	}
	s.slots[i].n++
	s.mu.Unlock()
	return uint32(si)<<slotBits | i, ReasonNone
}

// Release gives back a connection admitted by Acquire(ip). It reports
// whether there was one to give back.
func (c *ConnCaps) Release(ip netip.Addr) bool {
	if c.shards != nil {
		k := key16(ip)
		si := c.h.shard(k, numShards)
		s := &c.shards[si]
		s.mu.Lock()
		i, ok := s.m[k]
		s.mu.Unlock()
		if !ok {
			return false // never acquired: leave the global count alone too
		}
		return c.release(uint32(si)<<slotBits | i)
	}
	return c.ReleaseGlobal()
}

// release gives back the per-key count behind handle, and the global one.
func (c *ConnCaps) release(handle uint32) bool {
	if c.shards != nil {
		s := &c.shards[handle>>slotBits]
		i := handle & slotMask
		s.mu.Lock()
		if int(i) >= len(s.slots) || s.slots[i].n <= 0 {
			s.mu.Unlock()
			return false
		}
		if s.slots[i].n--; s.slots[i].n == 0 {
			delete(s.m, s.slots[i].key)
			s.free = append(s.free, i)
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
	defer s.mu.Unlock()
	if i, ok := s.m[k]; ok {
		return int(s.slots[i].n)
	}
	return 0
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
