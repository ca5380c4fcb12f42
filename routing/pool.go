package routing

import "sync"

// runQueue is the worker pool's queue of sessions that have pending messages: a FIFO ring of
// session pointers, grown by doubling and halved when an eighth full, so scheduling allocates
// nothing in steady state and push never blocks: the loop goroutine calls it from Dispatch. A
// session is on it at most once (Session.scheduled), which is what keeps one connection's
// messages in order while different connections run in parallel, and bounds the ring by the
// sessions with work. (It was an intrusive list through a pointer in every Session: 8 bytes
// on each idle connection for what only busy ones use.)
//
// A hand-written set of goroutines is used rather than panjf2000/ants: ants' Invoke blocks the
// caller when all workers are busy (or fails in non-blocking mode), so it would still need this
// queue in front of it to honour "Dispatch never blocks" and the per-session order, and then
// adds only its own overhead (measured before ants left the module: docs/benchmarks.md).
type runQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	ring   []*Session // len a power of two (or 0); the queue is ring[head], ... n of them, wrapping
	head   int
	n      int
	closed bool
	wg     sync.WaitGroup
}

// minRing is the smallest ring the queue keeps once it has one.
const minRing = 64

func (q *runQueue) init() { q.cond.L = &q.mu }

// push appends s; it reports false once the queue is closed.
func (q *runQueue) push(s *Session) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if q.n == len(q.ring) {
		q.resize(max(minRing, 2*len(q.ring)))
	}
	q.ring[(q.head+q.n)&(len(q.ring)-1)] = s
	q.n++
	q.mu.Unlock()
	q.cond.Signal()
	return true
}

// pop waits for a session; it returns nil once the queue is closed.
func (q *runQueue) pop() *Session {
	q.mu.Lock()
	for q.n == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	s := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) & (len(q.ring) - 1)
	q.n--
	if len(q.ring) > minRing && q.n <= len(q.ring)/8 {
		q.resize(len(q.ring) / 2) // a burst is over: give most of its ring back
	}
	q.mu.Unlock()
	return s
}

// resize moves the queue to a ring of size (a power of two, at least q.n). q.mu held.
func (q *runQueue) resize(size int) {
	r := make([]*Session, size)
	for i := range q.n {
		r[i] = q.ring[(q.head+i)&(len(q.ring)-1)]
	}
	q.ring, q.head = r, 0
}

// close wakes every worker, waits for them to return and hands back the sessions still queued.
func (q *runQueue) close() []*Session {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
	q.wg.Wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	var left []*Session
	for i := range q.n {
		left = append(left, q.ring[(q.head+i)&(len(q.ring)-1)])
	}
	q.ring, q.head, q.n = nil, 0, 0
	return left
}
