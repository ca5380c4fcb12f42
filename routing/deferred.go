package routing

import (
	"encoding/binary"

	"github.com/wsedge/wsedge/codec"
)

// A handler that must wait for something slow (a backend call, a cluster round trip) does not
// hold its worker: it takes a Deferred (Context.Defer), starts the work elsewhere and returns.
// The Deferred keeps the reply's place in the session's order: replies and error notes of the
// session's later messages, handled meanwhile, wait behind it (in the after buffer of the last
// Deferred of the chain) and leave, in order, once everything before them is answered. With
// nothing deferred a reply is written at once, as before: the only cost on that path is a flag
// the worker reads under the session lock it already takes per message.

// Deferred is one reply a handler gives after it returned. Answer it exactly once, from any
// goroutine, with Reply, Error or Send; later answers are ignored. It must be answered
// eventually (bound the work with a timeout): until then the session's later replies wait.
type Deferred struct {
	r     *Router
	s     *Session
	id    []byte    // the request's id token, copied; nil when it had none
	next  *Deferred // the session's next deferred reply
	after []byte    // replies queued behind this one: 4-byte little-endian length, message, ...
	reply []byte    // the answer, kept while an earlier Deferred is still open
	done  bool      // answered (or the session closed); guarded by s.mu
}

// Defer hands out the reply of the message being handled; the handler then returns nil (an
// error it returns instead answers the Deferred with that error). Replies of the session's
// later messages wait behind it. Calling it twice returns the same Deferred.
func (c *Context) Defer() *Deferred {
	if c.deferred != nil {
		return c.deferred
	}
	s := c.sess
	d := &Deferred{r: c.r, s: s}
	if c.msg.ID != nil {
		d.id = append([]byte(nil), c.msg.ID...)
	}
	c.deferred = d
	s.mu.Lock()
	if s.closed {
		d.done = true
		s.mu.Unlock()
		return d
	}
	x := s.extra()
	if x.dtail == nil {
		x.dhead = d
	} else {
		x.dtail.next = d
	}
	x.dtail = d
	x.deferred++
	s.mu.Unlock()
	c.held = true
	return d
}

// ID is the request's raw id token (quotes included), nil when it had none.
func (d *Deferred) ID() []byte { return d.id }

// Session is the session the reply goes to.
func (d *Deferred) Session() *Session { return d.s }

// Reply answers {"type":typ,"id":…,"data":data} (data raw JSON, or nil to leave it out).
func (d *Deferred) Reply(typ string, data []byte) error {
	buf := d.r.bufs.Get()
	buf.B = AppendReply(buf.B, typ, d.id, data)
	err := d.Send(buf.B)
	d.r.bufs.Put(buf)
	return err
}

// Error answers with an error reply of code and msg.
func (d *Deferred) Error(code Code, msg string) error {
	buf := d.r.bufs.Get()
	buf.B = AppendError(buf.B, d.id, code, msg)
	err := d.Send(buf.B)
	d.r.bufs.Put(buf)
	return err
}

// Send answers with msg, a complete reply the caller built (it should echo ID). msg is
// copied when it has to wait for an earlier reply; nil answers nothing and only releases the
// replies waiting behind d. ErrConnClosed means the connection is gone
// (or the Deferred was answered already): nothing was sent.
func (d *Deferred) Send(msg []byte) error {
	s := d.s
	s.mu.Lock()
	x := s.x
	if d.done || s.closed || x == nil {
		d.done = true
		s.mu.Unlock()
		return ErrConnClosed
	}
	d.done = true
	x.deferred--
	if x.dhead != d {
		d.reply = append([]byte(nil), msg...) // an earlier reply is still open: wait for it
		s.mu.Unlock()
		return nil
	}
	// d is the first open reply: send it and what waits behind it, then every answered reply
	// that follows, in order. This runs under s.mu so that a reply the worker writes directly
	// (once the chain is empty) cannot overtake them; Send only queues.
	var err error
	if msg != nil {
		err = s.conn.Send(msg)
	}
	e := d
	for {
		sendHeld(s.conn, e.after)
		x.heldBytes -= len(e.after)
		e.after, e.reply = nil, nil
		e = e.next
		if e == nil || !e.done {
			break
		}
		if e.reply != nil {
			_ = s.conn.Send(e.reply)
		}
	}
	x.dhead = e
	if e == nil {
		x.dtail = nil
	}
	var code codec.CloseCode
	var reason string
	if e == nil && s.closing && !s.scheduled {
		code, reason = x.closeCode, x.closeReason // CloseAfterReplies waited for this
	}
	s.mu.Unlock()
	_ = s.conn.Flush()
	if code != 0 {
		s.conn.Close(code, reason)
	}
	if err != nil {
		return ErrConnClosed
	}
	return nil
}

// Deferred is the number of replies the session's handlers deferred and have not answered.
func (s *Session) Deferred() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.x == nil {
		return 0
	}
	return s.x.deferred
}

// heldReplies reports whether replies must wait behind a deferred one. s.mu held.
func (s *Session) heldReplies() bool { return s.x != nil && s.x.dhead != nil }

// holdResult says what hold did with a reply.
type holdResult uint8

const (
	holdNone   holdResult = iota // nothing is deferred: write it now
	holdQueued                   // queued behind a deferred reply
	holdClosed                   // the session is closed: dropped
)

// hold queues reply p of session s behind its deferred replies, if it has any.
func (r *Router) hold(s *Session, p []byte) holdResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return holdClosed
	case !s.heldReplies():
		return holdNone
	}
	r.appendHeld(s, p)
	return holdQueued
}

// appendHeld adds p behind the last deferred reply. Past Options.NoteBytes of waiting replies
// (a client sending far faster than its slow calls answer) the reply is dropped and the
// connection closed with 1008 once the deferred replies are answered. s.mu held.
func (r *Router) appendHeld(s *Session, p []byte) {
	x := s.x
	if r.noteBytes > 0 && x.heldBytes+4+len(p) > r.noteBytes {
		if !s.closing {
			s.closing = true
			x.closeCode, x.closeReason = codec.ClosePolicyViolation, "too many messages in flight"
		}
		return
	}
	t := x.dtail
	t.after = binary.LittleEndian.AppendUint32(t.after, uint32(len(p)))
	t.after = append(t.after, p...)
	x.heldBytes += 4 + len(p)
}

// sendHeld sends the replies of an after buffer, in order.
func sendHeld(c Conn, b []byte) {
	for len(b) >= 4 {
		n := int(binary.LittleEndian.Uint32(b))
		_ = c.Send(b[4 : 4+n])
		b = b[4+n:]
	}
}

// dropDeferred forgets a closed session's deferred replies. s.mu held.
func (s *Session) dropDeferred() {
	if s.x == nil {
		return
	}
	for d := s.x.dhead; d != nil; {
		n := d.next
		d.done, d.next, d.after, d.reply = true, nil, nil, nil
		d = n
	}
	s.x.dhead, s.x.dtail, s.x.deferred, s.x.heldBytes = nil, nil, 0, 0
}
