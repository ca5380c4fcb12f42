package codec

import (
	"encoding/binary"
	"math"
	"unicode/utf8"

	"github.com/valyala/bytebufferpool"
)

// Config is shared by every Decoder of a server (or of a client): each call
// that needs it takes it, the same one for every call on a decoder, and it
// must not change while decoders use it.
type Config struct {
	// MaxMessageSize is the inclusive limit on an assembled data message
	// (the sum of its fragments); 0 means unlimited. A frame whose header
	// shows the limit would be passed is refused with CloseTooBig before
	// its payload arrives. For a compressed message it applies to the
	// inflated size, checked while inflating; its compressed bytes may pass
	// it by deflate's worst-case growth (limit/8 + 64 bytes).
	MaxMessageSize int64

	// Client selects the side: false (server) requires every incoming frame
	// to be masked, true (client) requires them to be unmasked.
	Client bool

	// Pool supplies the buffers fragmented messages are assembled in;
	// nil means bytebufferpool's default pool.
	Pool *bytebufferpool.Pool
}

// Handler receives what Feed decodes. Payload slices alias the buffer given
// to Feed (or the assembly buffer of a fragmented message) and are valid only
// during the call. A non-nil error aborts Feed, which returns it unchanged;
// the frame that was being delivered counts as consumed.
type Handler interface {
	// OnMessage gets a whole data message; op is OpText or OpBinary, and
	// text has been validated as UTF-8.
	OnMessage(op OpCode, payload []byte) error
	OnPing(payload []byte) error
	OnPong(payload []byte) error
	// OnClose gets a validated close frame; code is CloseNoStatus when the
	// close payload was empty. Feed stops after it.
	OnClose(code CloseCode, reason []byte) error
}

// Decoder is one connection's incremental frame decoder. Its zero value
// holds no buffer; it holds one only while a fragmented message is being
// assembled, and, with permessage-deflate and a peer that uses context
// takeover, the peer's recent bytes (see SetDeflate). It keeps no pointer to
// its Config: the calls that need it take it, the same for every call on one
// decoder (16 bytes in every connection, issue 19). It is not safe for
// concurrent use.
type Decoder struct {
	// x holds what few connections need (a fragmented message's assembly,
	// the peer's LZ77 window), allocated on first use and kept: one
	// pointer where two would keep every idle connection's decoder, and
	// its wsConn, a size class larger.
	x *spill
	// done counts payload bytes of the unfinished frame at the start of
	// the unconsumed tail already unmasked in place (and UTF-8 checked):
	// the caller presents them again. Frames are refused past 2 GiB (no
	// event loop buffers one), so 32 bits hold it.
	done int32
	// text validates the current text message across frames and prefixes.
	text UTF8
	// msg is the opcode of the fragmented message in progress, or 0.
	msg OpCode
	// ext holds the dec* and ext* flags; wbits the peer's window bits.
	ext, wbits uint8
}

// run is a decoder at work with its Config, which the decoder does not keep.
type run struct {
	*Decoder
	cfg *Config
}

// Reset returns the assembly buffer, if any, and makes d ready for a new
// connection decoded with cfg (nil: server side, no size limit).
func (d *Decoder) Reset(cfg *Config) {
	run{d, cfg}.release()
	*d = Decoder{}
}

// InMessage reports whether a fragmented message has started and not ended
// (its assembly buffer is held): a read deadline should be running.
func (d *Decoder) InMessage() bool { return d.msg != 0 }

// Stopped reports whether a close frame or a protocol error ended decoding.
func (d *Decoder) Stopped() bool { return d.ext&decStopped != 0 }

// Feed decodes the complete frames at the start of buf, calling h for each
// message and control frame, and returns how many bytes it consumed. The
// rest of buf (an unfinished frame, which Feed may have partly unmasked in
// place) must be presented again, unchanged and followed by the bytes read
// next, at the following Feed. A protocol violation returns an *Error (the
// consumed count then stops before the offending frame) and stops the
// decoder; so does a close frame, after OnClose. A Handler error is returned
// as is, with the frame it was given counted as consumed. cfg is the
// decoder's Config (nil: server side, no size limit), the same at every call.
func (d *Decoder) Feed(cfg *Config, buf []byte, h Handler) (consumed int, err error) {
	if d.Stopped() {
		return 0, ErrStopped
	}
	r := run{d, cfg}
	for consumed < len(buf) {
		n, err := r.frame(buf[consumed:], h)
		consumed += n
		if err != nil || n == 0 || d.Stopped() {
			return consumed, err
		}
	}
	return consumed, nil
}

// frame decodes the frame at the start of b. It returns its length once it
// was delivered (or assembled), 0 if it is unfinished. Checks run in the
// order of the bytes they need, so the verdict on a byte sequence does not
// depend on how it was split between Feeds.
func (d run) frame(b []byte, h Handler) (int, error) {
	b0 := b[0]
	rsv1 := b0&bitRSV1 != 0
	if b0&bitsRSV23 != 0 || (rsv1 && d.ext&extOn == 0) {
		return d.fail(CloseProtocolError, "reserved bits set without an extension")
	}
	fin := b0&bitFin != 0
	op := OpCode(b0 & 0x0F)
	switch op {
	case OpContinuation:
		if d.msg == 0 {
			return d.fail(CloseProtocolError, "continuation frame without a message to continue")
		}
		if rsv1 {
			return d.fail(CloseProtocolError, "RSV1 set on a continuation frame")
		}
	case OpText, OpBinary:
		if d.msg != 0 {
			return d.fail(CloseProtocolError, "new data frame inside a fragmented message")
		}
	case OpClose, OpPing, OpPong:
		if !fin {
			return d.fail(CloseProtocolError, "fragmented control frame")
		}
		if rsv1 {
			return d.fail(CloseProtocolError, "RSV1 set on a control frame")
		}
	default:
		return d.fail(CloseProtocolError, "reserved opcode")
	}
	// A compressed message: RSV1 on its first frame, remembered for the rest.
	compressed := rsv1 || (op == OpContinuation && d.ext&extMsgCompress != 0)
	if len(b) < 2 {
		return 0, nil
	}

	b1 := b[1]
	masked := b1&bitMask != 0
	if masked == d.client() {
		if masked {
			return d.fail(CloseProtocolError, "masked frame from the server")
		}
		return d.fail(CloseProtocolError, "unmasked frame from a client")
	}
	n := uint64(b1 & 0x7F)
	hl := 2
	switch n {
	case 126:
		if op.IsControl() {
			return d.fail(CloseProtocolError, "control frame payload over 125 bytes")
		}
		if len(b) < 4 {
			return 0, nil
		}
		n, hl = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if op.IsControl() {
			return d.fail(CloseProtocolError, "control frame payload over 125 bytes")
		}
		if len(b) < 3 {
			return 0, nil
		}
		if b[2]&0x80 != 0 {
			return d.fail(CloseProtocolError, "64-bit payload length with the top bit set")
		}
		if len(b) < 10 {
			return 0, nil
		}
		n, hl = binary.BigEndian.Uint64(b[2:10]), 10
	}
	if masked {
		hl += 4
	}
	if !op.IsControl() {
		// n <= 2^63-1 here, so the sum cannot wrap.
		total := n + uint64(d.assembled())
		limit := d.limit()
		if compressed && limit > 0 {
			limit = wireLimit(limit)
		}
		if limit > 0 && total > uint64(limit) {
			return d.fail(CloseTooBig, "message too big")
		}
		if n > uint64(math.MaxInt32-hl) {
			return d.fail(CloseTooBig, "frame too big to buffer")
		}
	}
	size := hl + int(n)
	if len(b) < hl {
		return 0, nil
	}

	var key [4]byte
	if masked {
		key = [4]byte(b[hl-4 : hl])
	}
	p := b[hl:]
	complete := len(p) >= int(n)
	if complete {
		p = p[:n]
	}
	if int(d.done) > len(p) {
		d.stop()
		return 0, ErrTailChanged
	}

	if op.IsControl() {
		if !complete {
			return 0, nil // at most 131 bytes: wait for all of it
		}
		return d.control(op, p, masked, key, size, h)
	}

	// Data frame: unmask and check whatever part of the payload is new,
	// complete or not, so bad text is refused before the rest arrives.
	// Compressed text is checked as it is inflated.
	text := !compressed && (op == OpText || (op == OpContinuation && d.msg == OpText))
	q := p[d.done:]
	if masked {
		maskBytes(key, int(d.done), q)
	}
	d.done = int32(len(p))
	if text && !d.text.Write(q) {
		return d.fail(CloseInvalidPayload, "invalid UTF-8 in a text message")
	}
	if !complete {
		return 0, nil
	}
	d.done = 0

	if fin && text && !d.text.Complete() {
		return d.fail(CloseInvalidPayload, "text message ends inside a UTF-8 character")
	}
	switch {
	case op != OpContinuation && fin && compressed: // a whole compressed message
		return d.inflateMessage(op, p, nil, size, h)
	case op != OpContinuation && fin: // a whole message: deliver in place
		d.text.Reset()
		return size, h.OnMessage(op, p)
	case op != OpContinuation: // first fragment
		d.msg = op
		if compressed {
			d.ext |= extMsgCompress
		}
		a := d.pool().Get()
		a.B = append(a.B, p...)
		d.spill().asm = a
		return size, nil
	case !fin:
		d.x.asm.B = append(d.x.asm.B, p...)
		return size, nil
	}
	// Last fragment.
	asm, mop := d.x.asm, d.msg
	asm.B = append(asm.B, p...)
	d.x.asm, d.msg = nil, 0
	if compressed {
		d.ext &^= extMsgCompress
		return d.inflateMessage(mop, asm.B, asm, size, h)
	}
	d.text.Reset()
	err := h.OnMessage(mop, asm.B)
	d.pool().Put(asm)
	return size, err
}

// control delivers a complete control frame of size bytes.
func (d run) control(op OpCode, p []byte, masked bool, key [4]byte, size int, h Handler) (int, error) {
	if masked {
		maskBytes(key, 0, p)
	}
	switch op {
	case OpPing:
		return size, h.OnPing(p)
	case OpPong:
		return size, h.OnPong(p)
	}
	code, reason := CloseNoStatus, p[:0]
	switch {
	case len(p) == 1:
		return d.fail(CloseProtocolError, "close payload of 1 byte")
	case len(p) >= 2:
		code, reason = CloseCode(binary.BigEndian.Uint16(p)), p[2:]
		if !ValidCloseCode(code) {
			return d.fail(CloseProtocolError, "invalid close code")
		}
		if !utf8.Valid(reason) {
			return d.fail(CloseInvalidPayload, "invalid UTF-8 in the close reason")
		}
	}
	d.stop()
	return size, h.OnClose(code, reason)
}

func (d run) fail(code CloseCode, reason string) (int, error) {
	d.stop()
	return 0, protocolError(code, reason)
}

// stop ends decoding for good and gives the assembly buffer and the
// window back at once.
func (d run) stop() {
	d.release()
	d.ext |= decStopped
	d.done, d.msg = 0, 0
	if d.x != nil {
		d.x.win = nil
	}
	d.ext &^= extMsgCompress
	d.text.Reset()
}

func (d run) release() {
	if a := d.asmBuf(); a != nil {
		d.pool().Put(a)
		d.x.asm = nil
	}
}

func (d run) assembled() int {
	if a := d.asmBuf(); a != nil {
		return len(a.B)
	}
	return 0
}

func (d run) client() bool { return d.cfg != nil && d.cfg.Client }

func (d run) limit() int64 {
	if d.cfg == nil {
		return 0
	}
	return d.cfg.MaxMessageSize
}

// pool hides the choice between the configured and the default pool.
type pool struct{ p *bytebufferpool.Pool }

func (d run) pool() pool {
	if d.cfg == nil {
		return pool{}
	}
	return pool{d.cfg.Pool}
}

func (p pool) Get() *bytebufferpool.ByteBuffer {
	if p.p == nil {
		return bytebufferpool.Get()
	}
	return p.p.Get()
}

func (p pool) Put(b *bytebufferpool.ByteBuffer) {
	if p.p == nil {
		bytebufferpool.Put(b)
		return
	}
	p.p.Put(b)
}
