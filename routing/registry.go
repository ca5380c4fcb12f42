package routing

import "sync"

const registryShards = 64 // spreads Open/Closed of many connections over independent locks

// Registry finds live sessions by id. It is safe for concurrent use.
type Registry struct {
	shards [registryShards]registryShard
}

type registryShard struct {
	mu sync.RWMutex
	m  map[uint64]*Session
	_  [40]byte // keep shards on separate cache lines
}

func (r *Registry) shard(id uint64) *registryShard { return &r.shards[id%registryShards] }

func (r *Registry) add(s *Session) {
	sh := r.shard(s.id)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[uint64]*Session)
	}
	sh.m[s.id] = s
	sh.mu.Unlock()
}

func (r *Registry) remove(s *Session) {
	sh := r.shard(s.id)
	sh.mu.Lock()
	delete(sh.m, s.id)
	sh.mu.Unlock()
}

// Get returns the live session with the given id.
func (r *Registry) Get(id uint64) (*Session, bool) {
	sh := r.shard(id)
	sh.mu.RLock()
	s, ok := sh.m[id]
	sh.mu.RUnlock()
	return s, ok
}

// Len returns the number of live sessions.
func (r *Registry) Len() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// Range calls f for each live session until f returns false. f must not call Open or Closed.
func (r *Registry) Range(f func(*Session) bool) {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			if !f(s) {
				sh.mu.RUnlock()
				return
			}
		}
		sh.mu.RUnlock()
	}
}
