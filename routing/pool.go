package routing

import "sync"

// runQueue is the worker pool's queue of sessions that have pending messages. It is an intrusive
// FIFO through Session.next, so scheduling allocates nothing, and push never blocks: the loop
// goroutine calls it from Dispatch. A session is on it at most once (Session.scheduled), which is
// what keeps one connection's messages in order while different connections run in parallel.
//
// A hand-written set of goroutines is used rather than panjf2000/ants: ants' Invoke blocks the
// caller when all workers are busy (or fails in non-blocking mode), so it would still need this
// queue in front of it to honour "Dispatch never blocks" and the per-session order, and then
// adds only its own overhead (measured before ants left the module: docs/benchmarks.md).
type runQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	head   *Session
	tail   *Session
	closed bool
	wg     sync.WaitGroup
}

func (q *runQueue) init() { q.cond.L = &q.mu }

// push appends s; it reports false once the queue is closed.
func (q *runQueue) push(s *Session) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	s.next = nil
	if q.tail == nil {
		q.head = s
	} else {
		q.tail.next = s
	}
	q.tail = s
	q.mu.Unlock()
	q.cond.Signal()
	return true
}

// pop waits for a session; it returns nil once the queue is closed.
func (q *runQueue) pop() *Session {
	q.mu.Lock()
	for q.head == nil && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	s := q.head
	q.head = s.next
	if q.head == nil {
		q.tail = nil
	}
	s.next = nil
	q.mu.Unlock()
	return s
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
	for s := q.head; s != nil; {
		n := s.next
		s.next = nil
		left = append(left, s)
		s = n
	}
	q.head, q.tail = nil, nil
	return left
}
