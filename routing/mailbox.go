package routing

import (
	"encoding/binary"

	"github.com/wsedge/wsedge/codec"
)

// A session's replies leave in the order its messages arrived. Messages wait in the session's
// mailbox and one worker at a time drains it. Whatever the event loop decides without a worker
// (OVERLOADED, RATE_LIMITED, a policy close) would overtake the replies still to come if it
// were written at once, so while the session has work in flight it is queued in the mailbox
// too: an error reply as a note, a close as a flag honoured once the mailbox is empty. When
// nothing is in flight, the loop writes it at once.

// Dispatch takes one complete message of a session. It runs on the event loop and never blocks:
// the payload (valid only during the call) is copied into a pooled buffer and appended to the
// session's mailbox, and the session is scheduled on the pool unless it already is. A message
// past the node's bound (Options.Queue), or past the session's share (Options.PerConn) while
// half of that bound is in use, is answered OVERLOADED, in order, and dropped. A binary message closes the connection with 1003 once
// the messages before it are answered. After Close, and once the session is closing, messages
// are dropped.
func (r *Router) Dispatch(s *Session, op codec.OpCode, payload []byte) {
	if op != codec.OpText {
		r.CloseAfterReplies(s, codec.CloseUnsupportedData, "binary messages are not supported on this endpoint")
		return
	}
	if r.closed.Load() {
		return
	}
	buf := r.bufs.Get()
	buf.B = append(buf.B, payload...)
	e := r.envs.Get().(*envelope)
	e.buf = buf
	s.mu.Lock()
	if s.closed || s.closing {
		s.mu.Unlock()
		r.free(e)
		return
	}
	n := r.queued.Add(1)
	over := r.queueCap > 0 && n > r.queueCap
	if !over && r.perConn > 0 && s.pending >= r.perConn {
		// Past its share, a session is served only while the node has room to spare: less
		// than half of the queue in use. So a deep pipeline is fine on a quiet node, and
		// under load the others keep their room.
		over = r.queueCap == 0 || n > r.queueCap/2
	}
	if over {
		r.queued.Add(-1)
		s.mu.Unlock()
		r.free(e)
		r.Refuse(s, payload, CodeOverloaded, errOverloaded.Message)
		return
	}
	s.pending++
	s.push(e)
	schedule := !s.scheduled
	s.scheduled = true
	s.mu.Unlock()
	if schedule && !r.runq.push(s) {
		r.dropMailbox(s)
	}
}

// Refuse answers a message the caller decided not to handle, with the error code and msg
// (echoing the message's id, if it has one), in its place among the session's replies: at
// once when nothing of the session is in flight, otherwise after the replies still to come.
// The server uses it for RATE_LIMITED; Dispatch for OVERLOADED. It runs on the event loop.
func (r *Router) Refuse(s *Session, payload []byte, code Code, msg string) {
	var m Message
	_ = m.Decode(payload) // only for the id; a broken message is still refused
	s.mu.Lock()
	if s.closed || s.closing {
		s.mu.Unlock()
		return
	}
	if !s.scheduled && s.heldReplies() {
		// No worker has the session but a deferred reply is open: wait behind it.
		buf := r.bufs.Get()
		buf.B = AppendError(buf.B, m.ID, code, msg)
		r.appendHeld(s, buf.B)
		r.bufs.Put(buf)
		s.mu.Unlock()
		return
	}
	if !s.scheduled {
		s.mu.Unlock()
		buf := r.bufs.Get()
		buf.B = AppendError(buf.B, m.ID, code, msg)
		if s.conn.Send(buf.B) == nil {
			_ = s.conn.Flush()
		}
		r.bufs.Put(buf)
		return
	}
	// A worker has the session: queue the reply behind what it will still answer, in the
	// note at the tail of the mailbox if there is one.
	e := s.tail()
	if e == nil || !e.note {
		e = r.envs.Get().(*envelope)
		e.buf, e.note = r.bufs.Get(), true
		s.push(e)
	}
	x := s.extra()
	mark := len(e.buf.B)
	e.buf.B = binary.LittleEndian.AppendUint32(e.buf.B, 0)
	e.buf.B = AppendError(e.buf.B, m.ID, code, msg)
	n := len(e.buf.B) - mark
	binary.LittleEndian.PutUint32(e.buf.B[mark:], uint32(n-4))
	x.noteBytes += n
	if r.noteBytes > 0 && x.noteBytes > r.noteBytes {
		// The client sends far faster than it reads its answers: stop here, answer what
		// was accepted, then close.
		e.buf.B = e.buf.B[:mark]
		x.noteBytes -= n
		s.closing = true
		x.closeCode, x.closeReason = codec.ClosePolicyViolation, "too many messages in flight"
	}
	s.mu.Unlock()
}

// CloseAfterReplies closes the session's connection with code and reason once every message
// accepted so far is answered; from now on its messages are dropped. When nothing is in
// flight it closes at once. It runs on the event loop (the server's 1008 for a client that
// keeps sending over its rate, the router's 1003 for a binary message).
func (r *Router) CloseAfterReplies(s *Session, code codec.CloseCode, reason string) {
	s.mu.Lock()
	if s.closed || s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	if s.scheduled || s.heldReplies() {
		// A worker or a deferred reply closes it once the replies before are sent.
		x := s.extra()
		x.closeCode, x.closeReason = code, reason
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.conn.Close(code, reason)
}

// drain handles a session's mailbox in order, then flushes its replies with one Flush. After
// batch messages it requeues the session behind the others.
func (r *Router) drain(c *Context, s *Session) {
	c.sess, c.wrote = s, false
	var done int32 // messages handled since the last look at the session
	for n := 0; ; n++ {
		s.mu.Lock()
		s.pending -= done
		done = 0
		if r.closed.Load() {
			head, _ := s.takeMailbox()
			s.scheduled = false
			s.mu.Unlock()
			r.release(head)
			break
		}
		if s.head == nil {
			s.scheduled = false
			var code codec.CloseCode
			var reason string
			if s.closing && !s.closed && s.x != nil && s.x.dhead == nil {
				code, reason = s.x.closeCode, s.x.closeReason // else the last deferred reply closes
			}
			s.mu.Unlock()
			if c.wrote {
				_ = s.conn.Flush()
			}
			if code != 0 {
				s.conn.Close(code, reason) // after the replies: they are queued already
			}
			c.sess = nil
			return
		}
		if n == batch {
			s.mu.Unlock() // still scheduled: requeue behind the others
			if c.wrote {
				_ = s.conn.Flush()
			}
			if !r.runq.push(s) {
				r.dropMailbox(s)
			}
			c.sess = nil
			return
		}
		e := s.pop()
		if e.note {
			s.x.noteBytes -= len(e.buf.B)
		}
		c.held = s.heldReplies()
		s.mu.Unlock()
		if e.note {
			r.sendNotes(c, e.buf.B)
			r.free(e)
			continue
		}
		r.handle(c, e.buf.B)
		r.free(e)
		r.queued.Add(-1)
		done = 1
	}
	if c.wrote {
		_ = s.conn.Flush()
	}
	c.sess = nil
}

// sendNotes sends the error replies of a note, in order.
func (r *Router) sendNotes(c *Context, b []byte) {
	for len(b) >= 4 {
		n := int(binary.LittleEndian.Uint32(b))
		if c.write(b[4:4+n]) != nil {
			return // the connection is gone
		}
		b = b[4+n:]
	}
}

// free returns an envelope and its buffer to the pools.
func (r *Router) free(e *envelope) {
	r.bufs.Put(e.buf)
	*e = envelope{}
	r.envs.Put(e)
}

// release frees a chain of envelopes taken from a mailbox and un-counts its messages.
func (r *Router) release(e *envelope) {
	var msgs int64
	for e != nil {
		next := e.next
		if !e.note {
			msgs++
		}
		r.free(e)
		e = next
	}
	if msgs > 0 {
		r.queued.Add(-msgs)
	}
}

// dropMailbox discards a session's mailbox when the pool is closing.
func (r *Router) dropMailbox(s *Session) {
	s.mu.Lock()
	head, _ := s.takeMailbox()
	s.scheduled = false
	s.mu.Unlock()
	r.release(head)
}
