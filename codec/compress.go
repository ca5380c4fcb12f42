package codec

import (
	"bytes"
	"slices"
	"sync"

	"github.com/klauspost/compress/flate"
)

// The encoders compress every message on its own: the compressor starts
// with an empty window and is flushed at the end of the message, so no
// connection keeps compressor state (a flate writer is hundreds of KiB) and
// a compressed frame does not depend on the connection it goes to: a publish
// is compressed once per node and the frame shared (AppendCompressed). RFC
// 7692 section 7.1.1.1 lets a server do this whether or not
// server_no_context_takeover was agreed. What it costs in ratio against a
// window kept per connection is measured by TestContextTakeoverRatio.
//
// server_max_window_bits=N below 15 (a client asking the server to keep
// back-references within 2^N bytes) is honoured, not declined: such
// messages are compressed by klauspost's window-limited encoder
// (flate.NewWriterWindow), whose matches never reach farther than the
// window. Declining would leave clients that only offer a small window (the
// Autobahn suite's 13.3 and 13.5 cases do) without compression.

// syncTail is what a sync flush ends with: the empty stored block that
// RFC 7692 section 7.2.1 removes from each message and section 7.2.2 adds
// back before inflating.
var syncTail = []byte{0x00, 0x00, 0xff, 0xff}

// compressor is a pooled flate writer with the slice it appends to.
type compressor struct {
	fw  *flate.Writer
	out appender
}

type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// levelPools[l] holds writers of level l (1..9); windowPools[b-8] writers
// limited to a 2^b-byte window (8..14). A writer is taken for one message
// and put back at once, so each pool holds about as many writers as
// goroutines compress at the same time.
var (
	levelPools  [10]sync.Pool
	windowPools [7]sync.Pool
)

func getCompressor(level int, bits uint8) *compressor {
	var pool *sync.Pool
	if bits < 15 {
		pool = &windowPools[bits-8]
	} else {
		pool = &levelPools[level]
	}
	if c, ok := pool.Get().(*compressor); ok {
		return c
	}
	c := &compressor{}
	var err error
	if bits < 15 {
		c.fw, err = flate.NewWriterWindow(&c.out, 1<<bits)
	} else {
		c.fw, err = flate.NewWriter(&c.out, level)
	}
	if err != nil {
		panic("codec: flate writer: " + err.Error()) // level and window are checked above
	}
	return c
}

func putCompressor(c *compressor, level int, bits uint8) {
	c.out.b = nil
	if bits < 15 {
		windowPools[bits-8].Put(c)
	} else {
		levelPools[level].Put(c)
	}
}

// appendDeflate appends payload compressed as one RFC 7692 message (empty
// window, sync flush, tail removed).
func appendDeflate(dst, payload []byte, level int, bits uint8) []byte {
	if level < 1 || level > 9 {
		level = DefaultCompressionLevel
	}
	bits = windowBits(bits)
	c := getCompressor(level, bits)
	c.out.b = dst
	c.fw.Reset(&c.out)
	_, _ = c.fw.Write(payload) // appender never fails
	_ = c.fw.Flush()
	out := c.out.b
	putCompressor(c, level, bits)
	if bytes.HasSuffix(out[len(dst):], syncTail) {
		out = out[:len(out)-len(syncTail)]
	}
	return out
}

// appendCompressedFrame appends a whole final frame with RSV1 carrying the
// compressed payload, masked with mask when masked. With ifSmaller it gives
// up (dst unchanged, false) when the compressed payload is not smaller than
// payload. The payload is compressed behind room for the largest header and
// then moved down next to the real one: one copy of the compressed bytes.
func appendCompressedFrame(dst []byte, op OpCode, payload []byte, level int, bits uint8, masked bool, mask [4]byte, ifSmaller bool) ([]byte, bool) {
	start := len(dst)
	maxHdr := HeaderSize(1<<16, masked)
	dst = slices.Grow(dst, maxHdr+len(payload)/2+16)
	body := start + maxHdr
	dst = appendDeflate(dst[:body], payload, level, bits)
	n := len(dst) - body
	if ifSmaller && n >= len(payload) {
		return dst[:start], false
	}
	hl := HeaderSize(n, masked)
	appendHeader(dst[:body-hl], op, true, n, masked, mask)
	dst[body-hl] |= bitRSV1
	if masked {
		maskBytes(mask, 0, dst[body:])
	}
	copy(dst[start:], dst[body-hl:])
	return dst[:start+hl+n], true
}

// AppendCompressed appends a whole unmasked final frame (server to client)
// with RSV1, carrying payload compressed at level (1..9; other values mean
// DefaultCompressionLevel) with a 32 KiB window and no context. The frame
// fits every connection p for which p.Shares(len(payload)), so a broadcast
// compresses once and queues the frame by reference. It reports false, with
// dst unchanged, when compression does not make the payload smaller: send the
// plain frame then. It ignores MinSize (the caller decides).
func AppendCompressed(dst []byte, op OpCode, payload []byte, level int) ([]byte, bool) {
	return appendCompressedFrame(dst, op, payload, level, 15, false, [4]byte{}, true)
}

// AppendShared is the shareable frame of a broadcast under this
// configuration: AppendCompressed at Level, or false (dst unchanged) when the
// payload is shorter than MinSize or does not shrink, in which case every
// connection gets the plain frame. It is computed once per message and
// queued by reference to every connection p with p.Shares(len(payload));
// the others (a server window under 15 bits and a longer payload) need
// AppendMessage, and connections without the extension the plain frame.
func (c *Deflate) AppendShared(dst []byte, op OpCode, payload []byte) ([]byte, bool) {
	if c.Mode == ModeOff || len(payload) < c.MinSize {
		return dst, false
	}
	return AppendCompressed(dst, op, payload, c.level())
}

// AppendMessage appends the final frame a connection with parameters p
// receives for op and payload: compressed (RSV1 set) when p enabled the
// extension, the payload has at least MinSize bytes and compression makes
// it smaller; else the plain frame. It reports whether it compressed.
// It honours p.ServerMaxWindowBits. Safe for concurrent use.
func (c *Deflate) AppendMessage(dst []byte, p Params, op OpCode, payload []byte) ([]byte, bool) {
	if c.compresses(p, len(payload)) {
		if out, ok := appendCompressedFrame(dst, op, payload, c.level(), p.ServerMaxWindowBits, false, [4]byte{}, true); ok {
			return out, true
		}
	}
	return AppendFrame(dst, op, true, payload), false
}

// AppendClientMessage is AppendMessage for a client: the frame is masked
// with mask and honours p.ClientMaxWindowBits.
func (c *Deflate) AppendClientMessage(dst []byte, p Params, op OpCode, mask [4]byte, payload []byte) ([]byte, bool) {
	if c.compresses(p, len(payload)) {
		if out, ok := appendCompressedFrame(dst, op, payload, c.level(), p.ClientMaxWindowBits, true, mask, true); ok {
			return out, true
		}
	}
	return AppendClientFrame(dst, op, true, mask, payload), false
}

// Compresses reports whether a message of n bytes to a connection with p
// is worth compressing: the extension is on and n >= MinSize.
func (c *Deflate) Compresses(p Params, n int) bool { return c.compresses(p, n) }

func (c *Deflate) compresses(p Params, n int) bool {
	return p.Enabled() && c.Mode != ModeOff && n >= c.MinSize
}
