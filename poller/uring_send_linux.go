package poller

import (
	"fmt"
	"unsafe"

	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"
)

// The uring backend's send side. What the loop flushes during a round is
// sent by the ring when the round ends: one SQE per connection, all of them
// in the io_uring_enter that also collects the next completions, so a round
// that answers many connections costs one system call instead of a writev
// each. Writers on other goroutines still writev at once, unless the ring
// is sending that connection's queue (c.sending): its completion then takes
// the rest.

const (
	udSend      = 4
	iouOpWritev = 2
	iouOpSend   = 26
)

// sendRec is a send in flight: the slices the kernel reads, kept reachable
// until the completion, and the owned buffers among them, recycled by the
// completion if the connection closed meanwhile (releaseQueue leaves them).
type sendRec struct {
	c    *Conn
	data [][]byte
	bufs []*bytebufferpool.ByteBuffer
}

type sendState struct {
	queue []*Conn // flushed by the loop this round: send at the round's end
	sent  []*Conn // sent by the last enter: still in flight after it means blocked
	recs  []sendRec
	free  []uint32
	iovs  []unix.Iovec // valid until the enter that submits them returns (FEAT_SUBMIT_STABLE)
}

// writeRound queues the connection for the round's batched send. c.mu held.
func (u *uring) writeRound(c *Conn) error {
	if c.sending {
		return nil // the completion sends what follows
	}
	if c.armed {
		return u.epoll.write(c) // EPOLLOUT is armed: epoll finishes the job
	}
	c.loop.sends.queue = append(c.loop.sends.queue, c)
	return nil
}

// direct: no, the ring sends a round's answers together, in one enter.
func (u *uring) direct() bool { return false }

// write from any goroutine: at once, as on epoll, unless the ring is
// sending this queue. c.mu held.
func (u *uring) write(c *Conn) error {
	if c.sending {
		return nil
	}
	return u.epoll.write(c)
}

// submitSends turns the round's flushed connections into SQEs. Loop only.
func (u *uring) submitSends(l *loop) {
	st := &l.sends
	if len(st.queue) == 0 {
		return
	}
	if need := len(st.queue) * maxIov; cap(st.iovs) < need {
		// The SQEs of this round point into it: never grow it while
		// building them.
		st.iovs = make([]unix.Iovec, 0, need)
	}
	st.iovs = st.iovs[:0]
	for i, c := range st.queue {
		st.queue[i] = nil
		c.mu.Lock()
		if c.closed || c.sending || c.armed || c.q == nil {
			c.mu.Unlock()
			continue
		}
		s, err := l.ring.sqe()
		if err != nil {
			c.mu.Unlock()
			// No room in the ring: write it now instead.
			c.flushFromLoop()
			continue
		}
		slot := st.take(c)
		rec := &st.recs[slot]
		start := len(st.iovs)
		k := min(len(c.q.segs), maxIov)
		for j := 0; j < k; j++ {
			seg := &c.q.segs[j]
			d := seg.data()
			c.q.inflight += len(d)
			rec.data = append(rec.data, d)
			if seg.buf != nil {
				rec.bufs = append(rec.bufs, seg.buf)
			}
			iov := unix.Iovec{Base: unsafe.SliceData(d)}
			iov.SetLen(len(d))
			st.iovs = append(st.iovs, iov)
		}
		s.fd = c.fd
		s.userData = udSend<<56 | uint64(slot)
		if k == 1 {
			s.opcode = iouOpSend
			s.addr = uint64(uintptr(unsafe.Pointer(st.iovs[start].Base)))
			s.len = uint32(st.iovs[start].Len)
			s.opFlags = unix.MSG_NOSIGNAL
		} else {
			s.opcode = iouOpWritev
			s.addr = uint64(uintptr(unsafe.Pointer(&st.iovs[start])))
			s.len = uint32(k)
		}
		c.sending = true
		c.mu.Unlock()
		st.sent = append(st.sent, c)
	}
	st.queue = st.queue[:0]
}

// take returns a free send record for c.
func (st *sendState) take(c *Conn) uint32 {
	var slot uint32
	if n := len(st.free); n > 0 {
		slot = st.free[n-1]
		st.free = st.free[:n-1]
	} else {
		slot = uint32(len(st.recs))
		st.recs = append(st.recs, sendRec{})
	}
	st.recs[slot].c = c
	return slot
}

func (st *sendState) release(slot uint32) {
	rec := &st.recs[slot]
	clear(rec.data)
	clear(rec.bufs)
	rec.c, rec.data, rec.bufs = nil, rec.data[:0], rec.bufs[:0]
	st.free = append(st.free, slot)
}

// stalled marks the connections whose send did not complete within the
// enter that submitted it: the socket is full, so the write timeout runs
// from now. Loop only.
func (u *uring) stalled(l *loop) {
	st := &l.sends
	for i, c := range st.sent {
		st.sent[i] = nil
		c.mu.Lock()
		started := c.sending && c.q != nil && c.q.blockedSince == 0
		if started {
			c.q.blockedSince = l.now
		}
		c.mu.Unlock()
		if started && u.p.cfg.WriteTimeout > 0 && !c.loopClosed {
			l.schedule(c)
		}
	}
	st.sent = st.sent[:0]
}

// completed takes a send's completion: the bytes written leave the queue,
// and what is left (or was queued meanwhile) goes out at this round's end.
func (u *uring) completed(l *loop, cqe *iouCqe) {
	st := &l.sends
	slot := uint32(cqe.userData)
	rec := &st.recs[slot]
	c := rec.c
	c.mu.Lock()
	c.sending = false
	if c.closed {
		// Closed while in flight: the queue was dropped without recycling
		// what the kernel was reading; it is done with it now.
		for _, b := range rec.bufs {
			u.p.bufs.Put(b)
		}
		c.mu.Unlock()
		st.release(slot)
		return
	}
	st.release(slot)
	c.q.inflight = 0
	var err error
	switch res := cqe.res; {
	case res >= 0:
		c.consume(int(res))
	case unix.Errno(-res) == unix.EAGAIN || unix.Errno(-res) == unix.EINTR:
	default:
		err = fmt.Errorf("poller: write: %w", unix.Errno(-res))
		c.closed = true
		c.releaseQueue()
	}
	more := c.q != nil
	end := err == nil && c.closeAfter && !more && !c.armed
	c.mu.Unlock()
	switch {
	case err != nil:
		l.closeConn(c, err)
	case more:
		st.queue = append(st.queue, c)
	case end && !c.lingering && !c.loopClosed:
		l.linger(c)
	}
}

// cancelSend cancels c's send in flight, if any (at close). Loop only.
func (u *uring) cancelSend(l *loop, c *Conn) {
	for slot := range l.sends.recs {
		if l.sends.recs[slot].c != c {
			continue
		}
		if s, err := l.ring.sqe(); err == nil {
			s.opcode = iouOpAsyncCancel
			s.addr = udSend<<56 | uint64(slot)
			s.userData = udCancel << 56
		}
		return
	}
}
