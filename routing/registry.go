package routing

import "sync"

const registryShards = 64 // spreads Open/Closed of many connections over independent locks

// Registry finds live sessions by id. It is safe for concurrent use.
type Registry struct {
	shards [registryShards]registryShard
}

// registryShard indexes its sessions by id in an open-addressing table: 8 bytes a slot where
// a map[uint64]*Session costs 16 and its control bytes (issue 19: ~12 bytes a session
// instead of ~32).
type registryShard struct {
	mu sync.RWMutex
	t  ptrTable[Session] // 64 bytes with the lock: a cache line a shard
}

func sessionHash(s *Session) uint64 { return mix(s.id) }

func (r *Registry) shard(id uint64) *registryShard { return &r.shards[id%registryShards] }

func (r *Registry) add(s *Session) {
	sh := r.shard(s.id)
	sh.mu.Lock()
	sh.t.insert(mix(s.id), s, sessionHash)
	sh.mu.Unlock()
}

func (r *Registry) remove(s *Session) {
	sh := r.shard(s.id)
	sh.mu.Lock()
	sh.t.remove(mix(s.id), s, sessionHash)
	sh.mu.Unlock()
}

// Get returns the live session with the given id.
func (r *Registry) Get(id uint64) (*Session, bool) {
	sh := r.shard(id)
	sh.mu.RLock()
	s := sh.t.get(mix(id), func(s *Session) bool { return s.id == id })
	sh.mu.RUnlock()
	return s, s != nil
}

// Len returns the number of live sessions.
func (r *Registry) Len() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		n += sh.t.n
		sh.mu.RUnlock()
	}
	return n
}

// Range calls f for each live session until f returns false. f must not call Open or Closed.
func (r *Registry) Range(f func(*Session) bool) {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		more := sh.t.each(f)
		sh.mu.RUnlock()
		if !more {
			return
		}
	}
}
