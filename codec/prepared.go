package codec

import (
	"slices"
	"sync"
)

// MaxHeaderSize is the longest header of a server-to-client frame: 2 bytes
// plus a 64-bit extended length (no mask).
const MaxHeaderSize = 10

// Prepared is one server-to-client message shared by many connections, such
// as a channel publish fanned out to every local subscriber. Its payload is
// built once; its frame is encoded lazily, at most once, by the first
// connection that asks for it (Frame), and every connection queues the same
// bytes by reference. A Prepared, its payload and its frame are immutable
// once made: safe for concurrent use, never to be modified.
//
// The permessage-deflate variant (Compressed) is built the same way: at most
// once per node, by the first compressed connection that needs it, since a
// frame compressed without context (RFC 7692) does not depend on the
// connection. A connection it does not fit (Params.Shares) uses Payload.
type Prepared struct {
	buf   []byte // header room, then the payload
	off   int    // where the payload starts in buf
	op    OpCode
	once  sync.Once
	frame []byte

	zonce  sync.Once
	zframe []byte // the compressed frame; nil when compression does not pay
}

// PreparedBuffer returns an empty buffer with MaxHeaderSize bytes of room in
// front and capacity for n payload bytes: append the payload to it and pass
// it to NewPreparedRoom(op, buf, MaxHeaderSize) so that the frame is written
// in place, without a copy.
func PreparedBuffer(n int) []byte {
	return make([]byte, MaxHeaderSize, MaxHeaderSize+n)
}

// NewPrepared returns a Prepared message of type op carrying payload, which it
// keeps: payload must not change afterwards. The frame is a fresh copy made
// at the first Frame call.
func NewPrepared(op OpCode, payload []byte) *Prepared {
	return &Prepared{buf: payload, op: op}
}

// NewPreparedRoom returns a Prepared message of type op whose payload is
// buf[off:]. buf[:off] is free room the frame header may be written into:
// when off is at least the header size (always when off >= MaxHeaderSize),
// Frame writes the header into buf just before the payload and returns a
// subslice of buf, without copying. The Prepared owns buf from then on.
func NewPreparedRoom(op OpCode, buf []byte, off int) *Prepared {
	if off < 0 || off > len(buf) {
		panic("codec: NewPreparedRoom: offset outside the buffer")
	}
	return &Prepared{buf: buf, off: off, op: op}
}

// Op is the message's opcode.
func (p *Prepared) Op() OpCode { return p.op }

// Payload is the message payload (read only).
func (p *Prepared) Payload() []byte { return p.buf[p.off:] }

// Frame returns the encoded frame: a final, unmasked frame of type Op
// carrying Payload (read only). The first call encodes it; every call returns
// the same bytes.
func (p *Prepared) Frame() []byte {
	p.once.Do(p.encode)
	return p.frame
}

// FrameSize is the length of the frame, known without encoding it.
func (p *Prepared) FrameSize() int { return FrameSize(len(p.buf) - p.off) }

func (p *Prepared) encode() {
	n := len(p.buf) - p.off
	h := HeaderSize(n, false)
	if p.off >= h {
		// Write the header into the room just before the payload: the
		// payload bytes are not touched, so concurrent Payload readers are
		// unaffected.
		start := p.off - h
		appendHeader(p.buf[start:start:p.off], p.op, true, n, false, [4]byte{})
		p.frame = p.buf[start:len(p.buf):len(p.buf)]
		return
	}
	p.frame = AppendFrame(make([]byte, 0, h+n), p.op, true, p.buf[p.off:])
}

// Compressed returns the message as one compressed frame (RSV1 set) under
// c, made by the first call (c.AppendShared) and shared by every later one,
// or nil when c does not compress it (shorter than c.MinSize, or deflate
// does not make it smaller): such connections get Frame. made reports
// whether this call did the compressing, so a caller can count compressions
// (one per Prepared, however many connections it reaches). Every call must
// pass the same configuration: the first one decides. The frame fits a
// connection p when p.Shares(len(Payload())).
func (p *Prepared) Compressed(c *Deflate) (frame []byte, made bool) {
	p.zonce.Do(func() {
		made = true
		z, ok := c.AppendShared(nil, p.op, p.buf[p.off:])
		if ok {
			p.zframe = slices.Clip(z)
		}
	})
	return p.zframe, made
}
