package poller

import (
	"github.com/valyala/bytebufferpool"
)

// The write side of a Conn: a bounded queue of bytes, filled from any
// goroutine, emptied by the backend. The poller moves bytes and nothing
// else: what they mean (frames, TLS records) is the caller's business.

// seg is one queued piece: either bytes the connection owns (a pooled
// buffer, returned once written) or a shared slice held by reference.
type seg struct {
	buf    *bytebufferpool.ByteBuffer
	shared []byte
	off    int
}

func (s *seg) data() []byte {
	if s.buf != nil {
		return s.buf.B[s.off:]
	}
	return s.shared[s.off:]
}

// outQueue exists only while a connection has something queued, so an idle
// connection holds neither it nor any buffer.
type outQueue struct {
	segs         []seg
	blockedSince int64 // when the socket last refused bytes (0: not blocked)
	inflight     int   // uring: bytes of the send in flight (the head of segs)
	queued       int   // bytes queued (admitted), the connection's while it holds the queue
}

// queuedBytes is what the connection has queued: nothing without a queue
// (kept in the queue, not the Conn: an idle connection holds none). c.mu held.
func (c *Conn) queuedBytes() int {
	if c.q == nil {
		return 0
	}
	return c.q.queued
}

// Write queues a copy of b.
func (c *Conn) Write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf, err := c.ownTail(len(b))
	if err != nil {
		return err
	}
	buf.B = append(buf.B, b...)
	c.tee(buf.B[len(buf.B)-len(b):], 0)
	return nil
}

// Write2 queues a copy of a followed by b, in one step (a frame header and
// its payload): the caller may reuse both at once.
func (c *Conn) Write2(a, b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queue2Locked(a, b)
}

// queue2Locked copies a then b to the queue's tail (and the export tee).
// c.mu held.
func (c *Conn) queue2Locked(a, b []byte) error {
	buf, err := c.ownTail(len(a) + len(b))
	if err != nil {
		return err
	}
	buf.B = append(append(buf.B, a...), b...)
	c.tee(buf.B[len(buf.B)-len(a)-len(b):], 0)
	return nil
}

// Send2 is Write2 for a Handler callback on the connection's loop (an
// answer to what it just read): when nothing is queued, the bytes go to the
// socket at once, straight from a and b (epoll: one writev, no copy, no
// queue); what the socket does not take is queued as Write2 would, and the
// loop flushes it. Elsewhere (uring, which sends a round's answers
// together; std; a queue already waiting; a connection being handed over)
// it is Write2. The caller may reuse a and b once it returns. Loop only.
func (c *Conn) Send2(a, b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.q == nil && !c.armed && !c.closed && !c.final && c.detach == attached && c.loop.p.d.direct() {
		n, err := sendv(int(c.fd), a, b)
		if err != nil {
			// As a failed flush: the queue is closed, the loop closes the
			// connection with the reason.
			c.closed = true
			c.requestLocked(taskClose, err)
			return err
		}
		if n >= len(a) {
			a, b = nil, b[n-len(a):]
		} else {
			a = a[n:]
		}
		if len(a)+len(b) == 0 {
			return nil
		}
	}
	return c.queue2Locked(a, b)
}

// WriteShared queues b by reference. b must not change afterwards: the
// same bytes may be queued to many connections (a broadcast).
func (c *Conn) WriteShared(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.admit(len(b)); err != nil {
		return err
	}
	c.q.segs = append(c.q.segs, seg{shared: b})
	c.tee(b, WriteShared)
	return nil
}

// WriteFinal queues a copy of b as the connection's last bytes (a close
// frame, a refusal): every later write fails with ErrClosed, and the two
// happen under one lock, so nothing a concurrent writer queues can follow b.
// The socket stays open for reading; CloseAfterFlush ends it.
func (c *Conn) WriteFinal(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf, err := c.ownTail(len(b))
	if err != nil {
		return err
	}
	buf.B = append(buf.B, b...)
	c.final = true
	c.tee(buf.B[len(buf.B)-len(b):], WriteFinal)
	return nil
}

// tee gives bytes just queued for an exported connection to the sink too.
// c.mu held.
func (c *Conn) tee(b []byte, f WriteFlags) {
	if c.detach == exported {
		c.loop.p.sink.Write(c, b, f)
	}
}

// WriteWith queues what fill appends to the connection's own buffer at the
// end of the queue, under the queue's lock: a TLS layer seals records
// straight into the queue (no copy), and whatever it seals is queued in the
// order it was sealed. n is how many bytes fill expects to append (the
// buffer has room for them; the queue bound counts what it really
// appended). fill must return its argument extended, or an error with
// nothing appended, in which case nothing is queued. With final, the bytes
// are the connection's last, as with WriteFinal. fill runs with the lock
// held: it must not call back into the connection.
func (c *Conn) WriteWith(n int, final bool, fill func(dst []byte) ([]byte, error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf, err := c.ownTail(n)
	if err != nil {
		return err
	}
	start := len(buf.B)
	if cap(buf.B)-start < n {
		b := make([]byte, start, start+n)
		copy(b, buf.B)
		buf.B = b
	}
	out, err := fill(buf.B)
	if err != nil {
		out = buf.B[:start]
	}
	buf.B = out
	c.q.queued += len(out) - start - n // admitted as n
	if err != nil {
		return err
	}
	var f WriteFlags
	if final {
		c.final = true
		f = WriteFinal
	}
	c.tee(out[start:], f)
	return nil
}

// Flush hands what is queued to the socket (epoll: one writev, at once; std:
// the connection's writer goroutine). It never blocks: what the socket does
// not take stays queued and goes out when it can.
func (c *Conn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushLocked(false)
	switch {
	case err != nil && err != ErrClosed:
		c.requestLocked(taskClose, err) // a write error: flushLocked closed the queue
	case err == nil && c.closeAfter && c.q == nil && !c.armed && c.detach == attached:
		c.requestLocked(taskEnd, nil)
	}
	return err
}

// FlushSoon asks the connection's loop to flush it, instead of writing on
// the caller's goroutine: a broadcast to many connections then costs the
// publisher a queue append per subscriber while the loops, one per core,
// make the write calls in parallel. A connection has at most one such
// request pending: a flood of publishes to a busy channel adds bytes to
// bounded queues, never tasks to the loop.
func (c *Conn) FlushSoon() {
	c.mu.Lock()
	if !c.closed && (c.q != nil || c.closeAfter) {
		c.requestLocked(taskFlush, nil)
	}
	c.mu.Unlock()
}

// CloseAfterFlush ends the connection gracefully once everything queued so
// far is written. With waitPeer, the write side is shut (FIN) and the socket
// closed when the peer closes too, or after the linger timeout: a peer that
// may still be sending then reads our last bytes instead of a reset. Without
// it the socket is closed as soon as the bytes are out (the peer is done, as
// after a completed close handshake). Later writes fail with ErrClosed.
func (c *Conn) CloseAfterFlush(waitPeer bool) {
	c.mu.Lock()
	c.final = true
	c.closeAfter = true
	c.noLinger = !waitPeer
	if c.detach == exported {
		c.loop.p.sink.CloseAfterFlush(c, waitPeer)
	}
	c.mu.Unlock()
	c.Flush()
}

// Close closes the connection at once, dropping what is queued; err is
// reported to OnClose. Only the first Close of a connection counts.
func (c *Conn) Close(err error) {
	c.mu.Lock()
	if c.detach == exported {
		// Another process may own the socket soon: it closes it there (or
		// Resume does here, after what is queued).
		c.final, c.closeAfter, c.noLinger = true, true, true
		c.loop.p.sink.CloseAfterFlush(c, false)
		c.mu.Unlock()
		return
	}
	c.requestLocked(taskClose, err)
	c.mu.Unlock()
}

// requestLocked posts a task of kind for the connection to its loop, unless
// one of that kind is already pending: each connection has at most one task
// of each kind in its loop's list, so the list is bounded by the number of
// connections. c.mu held.
func (c *Conn) requestLocked(kind taskKind, err error) {
	bit := uint8(1) << kind
	if c.pending&bit != 0 {
		return
	}
	c.pending |= bit
	c.loop.post(task{kind: kind, c: c, err: err})
}

// done clears the pending mark of a task the loop is about to run.
func (c *Conn) done(kind taskKind) {
	c.mu.Lock()
	c.pending &^= uint8(1) << kind
	c.mu.Unlock()
}

// flushFromLoop flushes on the loop goroutine and acts on the result there.
func (c *Conn) flushFromLoop() { c.flushOnLoop(false) }

// flushRound flushes what the Handler queued from one of its callbacks: the
// uring backend sends it when the round ends, together with the other
// connections' answers; the others write at once.
func (c *Conn) flushRound() { c.flushOnLoop(true) }

func (c *Conn) flushOnLoop(round bool) {
	if c.loopClosed {
		return
	}
	c.mu.Lock()
	if c.closed || c.q == nil && !c.armed && !c.closeAfter {
		// Nothing to write, or a writer already closed it and posted the
		// close with its reason (slow consumer, write error).
		c.mu.Unlock()
		return
	}
	err := c.flushLocked(round)
	end := err == nil && c.closeAfter && c.q == nil && !c.armed && c.detach == attached
	c.mu.Unlock()
	switch {
	case err != nil:
		c.loop.closeConn(c, err)
	case end && !c.lingering:
		c.loop.linger(c)
	}
}

// admit checks the queue bound for n more bytes and makes sure a queue
// exists. c.mu held.
func (c *Conn) admit(n int) error {
	if c.closed || c.final {
		return ErrClosed
	}
	p := c.loop.p
	over := func() bool {
		// Past 1 GiB a queue is a slow consumer even with no bound
		// configured. Bytes the ring is sending count as the socket's.
		queued := c.queuedBytes()
		if c.q != nil {
			queued -= c.q.inflight
		}
		max := p.cfg.WriteQueue
		return max > 0 && queued+n > max || queued+n > 1<<30
	}
	if c.detach == exported {
		over = func() bool { return false } // the process taking it over applies the bound
	}
	if over() && c.q != nil {
		// Only what the socket cannot take counts against the bound: a
		// burst queued for a later flush may still fit in the kernel.
		if err := c.flushLocked(false); err != nil {
			c.requestLocked(taskClose, err)
			return err
		}
	}
	if over() {
		c.closed = true
		c.releaseQueue()
		c.requestLocked(taskClose, ErrSlowConsumer)
		return ErrSlowConsumer
	}
	if c.q == nil {
		c.q = p.queues.Get().(*outQueue)
	}
	c.q.queued += n
	return nil
}

// ownTail returns an owned buffer at the end of the queue with room for n
// more bytes, so consecutive small writes share one buffer and one iovec.
// c.mu held.
func (c *Conn) ownTail(n int) (*bytebufferpool.ByteBuffer, error) {
	if err := c.admit(n); err != nil {
		return nil, err
	}
	if k := len(c.q.segs); k > 0 && c.q.segs[k-1].buf != nil {
		return c.q.segs[k-1].buf, nil
	}
	b := c.loop.p.bufs.Get()
	c.q.segs = append(c.q.segs, seg{buf: b})
	return b, nil
}

// flushLocked hands the queue to the backend; round: at the end of a loop
// round (uring batches those sends). c.mu held.
func (c *Conn) flushLocked(round bool) error {
	if c.closed {
		return ErrClosed
	}
	if c.q == nil || c.detach != attached {
		return nil // detached: the queue waits (handover.go)
	}
	if round {
		return c.loop.p.d.writeRound(c)
	}
	return c.loop.p.d.write(c)
}

// releaseQueue drops whatever is queued. c.mu held. With the std backend a
// write may still be reading the buffers: they are then left to the
// collector instead of going back to the pool (with uring, to the send's
// completion).
func (c *Conn) releaseQueue() {
	if c.q == nil {
		return
	}
	p := c.loop.p
	// The kernel may still read buffers the ring is sending: their
	// completion recycles them.
	recycle := (!c.isStd() || !c.armed) && !c.sending
	for i := range c.q.segs {
		if b := c.q.segs[i].buf; b != nil && recycle {
			p.bufs.Put(b)
		}
		c.q.segs[i] = seg{}
	}
	c.q.segs = c.q.segs[:0]
	c.q.blockedSince, c.q.inflight, c.q.queued = 0, 0, 0
	if recycle {
		p.queues.Put(c.q)
	}
	c.q = nil
}

// consume drops n written bytes from the head of the queue, and the queue
// itself once it is empty. c.mu held.
func (c *Conn) consume(n int) {
	c.q.queued -= n
	if n > 0 {
		c.q.blockedSince = 0 // progress: the write timeout counts from the next stall
	}
	p := c.loop.p
	i := 0
	for ; i < len(c.q.segs) && n > 0; i++ {
		s := &c.q.segs[i]
		d := len(s.data())
		if n < d {
			s.off += n
			break
		}
		n -= d
		if s.buf != nil {
			p.bufs.Put(s.buf)
		}
		*s = seg{}
	}
	if i > 0 {
		rest := copy(c.q.segs, c.q.segs[i:])
		clear(c.q.segs[rest:])
		c.q.segs = c.q.segs[:rest]
	}
	if len(c.q.segs) == 0 {
		c.q.blockedSince, c.q.queued = 0, 0
		p.queues.Put(c.q)
		c.q = nil
	}
}

// blockedSince is when the connection's queue stopped draining (0: it is
// not blocked).
func (c *Conn) blockedSince() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.q == nil {
		return 0
	}
	return c.q.blockedSince
}
