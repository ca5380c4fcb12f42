package codec

import (
	"bytes"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/valyala/bytebufferpool"
)

// The decoder's side of permessage-deflate. A compressed message is
// inflated when its last frame has arrived (klauspost's decompressor pulls
// its input and cannot pause at the end of a fragment, so the compressed
// fragments are assembled first, like any fragmented message). The
// decompressor (40 KiB with its 32 KiB history) and the output buffer are
// pooled and taken for that one step. -max-message-size is checked on the
// inflated bytes as they come out: the decompressor is asked for at most
// limit+1 bytes, so a bomb costs at most that plus the decompressor's own
// 32 KiB of look-ahead before the connection is closed with 1009.
//
// With context takeover (the peer did not agree to no_context_takeover) the
// peer may refer back into earlier messages, so the decoder keeps the last
// 2^window_bits bytes it inflated (at least 512: zlib, which many clients
// use, cannot compress with a 256-byte window and silently uses 512) and
// presets them as the next message's dictionary. That copy, grown only as
// far as the connection has actually sent, allocated at the first
// compressed message and dropped when the decoder stops, is all a
// connection holds between messages. The decompressor is never held.

// deflateEnd follows a message's compressed bytes when inflating: the sync
// flush tail the sender removed, then an empty final block, so a complete
// message ends in io.EOF and a truncated one in an error.
var deflateEnd = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// inflater is a pooled decompressor with the reader it pulls from.
type inflater struct {
	fr io.ReadCloser // klauspost's decompressor; a flate.Resetter
	br bytes.Reader  // the fast path of klauspost's Huffman decoder
}

var inflaters = sync.Pool{New: func() any {
	inf := &inflater{}
	inf.fr = flate.NewReader(&inf.br)
	return inf
}}

// InflateObserver may be implemented by a Handler to count compression:
// OnInflated is called just before OnMessage for a compressed message, with
// the size of its compressed payload (all frames, headers excluded) and of
// the inflated message.
type InflateObserver interface {
	OnInflated(compressed, inflated int)
}

// Decoder flags (Decoder.ext): permessage-deflate's, and the decoder's end.
const (
	extOn          = 1 << iota // negotiated: RSV1 allowed on a message's first frame
	extPeerNoCtx               // the peer compresses each message on its own
	extMsgCompress             // the message being assembled is compressed
	decStopped                 // a close frame or a protocol error ended decoding
)

// SetDeflate enables permessage-deflate with the agreed p (from
// Deflate.Negotiate on a server, ParseResponse on a client); call it after
// Reset and before the first Feed, with the decoder's Config. The zero Params
// leaves it off, so RSV1 stays a protocol error (1002).
func (d *Decoder) SetDeflate(cfg *Config, p Params) {
	d.ext, d.wbits = d.ext&decStopped, 0
	if d.x != nil {
		d.x.win = nil
	}
	if !p.Enabled() {
		return
	}
	noCtx, bits := p.ClientNoContextTakeover, p.ClientMaxWindowBits
	if (run{d, cfg}).client() {
		noCtx, bits = p.ServerNoContextTakeover, p.ServerMaxWindowBits
	}
	d.ext |= extOn
	if noCtx {
		d.ext |= extPeerNoCtx
	}
	d.wbits = windowBits(bits)
}

// WindowBytes is the memory the decoder keeps between messages for the
// peer's LZ77 window: 0 with no context takeover, else up to
// 2^window_bits bytes.
func (d *Decoder) WindowBytes() int {
	return cap(d.window())
}

// wireLimit bounds the compressed bytes of one message: the limit on the
// inflated size plus deflate's worst-case growth (fixed Huffman codes spend
// 9 bits on some bytes, so 1/8, plus block headers), so that a message of
// up to the limit is never refused for its compressed size.
func wireLimit(limit int64) int64 { return limit + limit/8 + 64 }

// inflateMessage inflates a compressed message and delivers it. src holds
// the compressed bytes; when asm is not nil it is the assembly buffer
// holding them (the bytes needed to finish the stream are appended to it),
// else src is copied. size is what the caller reports as consumed.
func (d run) inflateMessage(op OpCode, src []byte, asm *bytebufferpool.ByteBuffer, size int, h Handler) (int, error) {
	if len(src) == 0 {
		// Not a deflate stream (an empty message compresses to 0x00), but
		// zlib, which most peers use, inflates it to nothing: so do we.
		if o, ok := h.(InflateObserver); ok {
			o.OnInflated(0, 0)
		}
		err := h.OnMessage(op, src)
		if asm != nil {
			d.pool().Put(asm)
		}
		return size, err
	}
	in := asm
	if in == nil {
		in = d.pool().Get()
		in.B = append(in.B, src...)
	}
	in.B = append(in.B, deflateEnd...)
	out := d.pool().Get()
	inf := inflaters.Get().(*inflater)
	code, reason := d.inflate(inf, in.B, op == OpText, out)
	inf.br.Reset(nil) // hold no reference to the pooled input
	inflaters.Put(inf)
	d.pool().Put(in)
	if code != 0 {
		d.pool().Put(out)
		return d.fail(code, reason)
	}
	if o, ok := h.(InflateObserver); ok {
		o.OnInflated(len(src), len(out.B))
	}
	err := h.OnMessage(op, out.B)
	d.pool().Put(out)
	return size, err
}

// inflate decompresses src (ending with deflateEnd) into out, checking the
// size limit and, for text, UTF-8 on each piece as it comes out. It returns
// the close code and reason of a failure, or 0.
func (d run) inflate(inf *inflater, src []byte, text bool, out *bytebufferpool.ByteBuffer) (CloseCode, string) {
	inf.br.Reset(src)
	dict := d.window()
	_ = inf.fr.(flate.Resetter).Reset(&inf.br, dict) // never fails
	limit := d.limit()
	d.text.Reset()
	b := out.B[:0]
	for {
		if len(b) == cap(b) {
			b = growOutput(b, len(src), limit)
		}
		room := b[len(b):cap(b)]
		if limit > 0 && int64(len(room)) > limit+1-int64(len(b)) {
			room = room[:limit+1-int64(len(b))]
		}
		n, err := inf.fr.Read(room)
		b = b[:len(b)+n]
		out.B = b
		if limit > 0 && int64(len(b)) > limit {
			return CloseTooBig, "message too big"
		}
		if text && !d.text.Write(room[:n]) {
			return CloseInvalidPayload, "invalid UTF-8 in a text message"
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if text {
				return CloseInvalidPayload, "invalid compressed data"
			}
			return CloseProtocolError, "invalid compressed data"
		}
	}
	if text && !d.text.Complete() {
		return CloseInvalidPayload, "text message ends inside a UTF-8 character"
	}
	d.text.Reset()
	if d.ext&extPeerNoCtx == 0 {
		d.keepWindow(b)
	}
	return 0, ""
}

// growOutput makes room in b: first a guess from the compressed size, then
// doubling, never past limit+1 bytes (the one byte that shows the limit
// was passed).
func growOutput(b []byte, compressed int, limit int64) []byte {
	n := max(2*cap(b), 4*compressed, 512)
	if limit > 0 && int64(n) > limit+1 {
		n = int(limit + 1)
	}
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb
}

// keepWindow appends a message's inflated bytes to the connection's window
// and keeps its last 2^bits bytes (at least 512, see above).
func (d run) keepWindow(msg []byte) {
	size := 1 << max(d.wbits, 9)
	w := d.window()
	if len(msg) >= size {
		if cap(w) < size {
			w = make([]byte, size)
		}
		w = w[:size]
		copy(w, msg[len(msg)-size:])
		d.spill().win = w
		return
	}
	keep := min(len(w), size-len(msg))
	if need := keep + len(msg); need > cap(w) {
		nw := make([]byte, keep, min(size, max(need, 2*cap(w))))
		copy(nw, w[len(w)-keep:])
		w = nw
	} else {
		copy(w, w[len(w)-keep:])
		w = w[:keep]
	}
	d.spill().win = append(w, msg...)
}
