package server

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// authPool runs identity checks (token signatures: 10-100 us of CPU each;
// an Authenticator) off the event loops: a fixed set of goroutines and a
// bounded queue. A loop never waits for it: submit refuses at once when the
// queue is full, and the connection is refused (503 with Retry-After, or
// close 1013 after connect) instead of waiting. So the connections held
// waiting for a check are at most -auth-workers + -auth-queue.
type authPool struct {
	jobs    chan func()
	stop    chan struct{}
	wg      sync.WaitGroup
	pending atomic.Int64 // queued or running
}

func newAuthPool(workers, queue int) *authPool {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	p := &authPool{jobs: make(chan func(), max(queue, 0)), stop: make(chan struct{})}
	p.wg.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

func (p *authPool) work() {
	defer p.wg.Done()
	for {
		select {
		case f := <-p.jobs:
			f()
			p.pending.Add(-1)
		case <-p.stop:
			return
		}
	}
}

// submit queues f, or reports false at once when every worker is busy and
// the queue is full (or the pool stopped). Safe from any goroutine.
func (p *authPool) submit(f func()) bool {
	p.pending.Add(1)
	select {
	case <-p.stop:
	case p.jobs <- f:
		return true
	default:
	}
	p.pending.Add(-1)
	return false
}

// close stops the workers once their current check is done; what is queued
// is dropped (the server is closing those connections).
func (p *authPool) close() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	p.wg.Wait()
}
