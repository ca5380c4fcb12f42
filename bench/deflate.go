package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/klauspost/compress/flate"
)

// permessage-deflate (RFC 7692) on the client side. The client offers it
// (DefaultDeflateOffer unless told otherwise) and handles whatever the
// server agrees to: it never uses context itself when compressing (always
// allowed), and keeps the server's window when the server keeps context.
//
// The codec knows no extension, so a compressed connection's frames pass a
// pre-scan first: the first frame of a compressed message has its RSV1 bit
// cleared and its opcode set to binary (its payload is deflate data, not
// UTF-8), and the message's real opcode is queued; OnMessage takes it back
// and inflates.

// DefaultDeflateOffer lets the server choose every parameter.
const DefaultDeflateOffer = "permessage-deflate; client_max_window_bits"

// deflateTail ends every compressed message (RFC 7692 section 7.2.2).
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// deflateParams is what the server agreed to.
type deflateParams struct {
	serverNoContext bool // each server message is inflated on its own
	serverWindow    int  // bytes of server window to keep (context takeover)
}

// parseDeflateAnswer checks a Sec-WebSocket-Extensions answer against what
// was offered: ok is false when the server declined (no extension). Any
// other extension, an unknown or repeated parameter, or a parameter the
// offer did not allow is an error: the connection must fail.
func parseDeflateAnswer(answer, offer string) (p deflateParams, ok bool, err error) {
	answer = trimOWS(answer)
	if answer == "" {
		return p, false, nil
	}
	if bytes.IndexByte([]byte(answer), ',') >= 0 {
		return p, false, errors.New("deflate: more than one extension in the answer")
	}
	parts := splitParams(answer)
	if parts[0] != "permessage-deflate" {
		return p, false, fmt.Errorf("deflate: extension %q was not offered", parts[0])
	}
	offered := splitParams(offer)
	p.serverWindow = 1 << 15
	seen := map[string]bool{}
	for _, kv := range parts[1:] {
		k, v, hasV := cut(kv, '=')
		if seen[k] {
			return p, false, fmt.Errorf("deflate: parameter %s repeated", k)
		}
		seen[k] = true
		switch k {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasV {
				return p, false, fmt.Errorf("deflate: %s takes no value", k)
			}
			if k == "server_no_context_takeover" {
				p.serverNoContext = true
			}
		case "server_max_window_bits", "client_max_window_bits":
			bits, err := strconv.Atoi(trimQuotes(v))
			if !hasV || err != nil || bits < 8 || bits > 15 {
				return p, false, fmt.Errorf("deflate: bad %s %q", k, v)
			}
			if k == "client_max_window_bits" && !hasParam(offered, k) {
				return p, false, errors.New("deflate: client_max_window_bits answered but not offered")
			}
			if k == "server_max_window_bits" {
				p.serverWindow = 1 << bits
			}
		default:
			return p, false, fmt.Errorf("deflate: unknown parameter %q", k)
		}
	}
	return p, true, nil
}

func splitParams(s string) []string {
	var out []string
	for _, f := range bytes.Split([]byte(s), []byte(";")) {
		out = append(out, trimOWS(string(f)))
	}
	return out
}

func hasParam(params []string, name string) bool {
	for _, kv := range params[min(1, len(params)):] {
		if k, _, _ := cut(kv, '='); k == name {
			return true
		}
	}
	return false
}

func cut(s string, sep byte) (string, string, bool) {
	if i := bytes.IndexByte([]byte(s), sep); i >= 0 {
		return trimOWS(s[:i]), trimOWS(s[i+1:]), true
	}
	return s, "", false
}

func trimOWS(s string) string { return string(bytes.TrimSpace([]byte(s))) }

func trimQuotes(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// deflateConn is a compressed connection's state.
type deflateConn struct {
	params deflateParams
	// scanned counts bytes of the unconsumed tail already pre-scanned: the
	// frames before it were rewritten and their message starts queued;
	// headDone says the header of the frame at scanned (not all here yet)
	// was too.
	scanned  int
	headDone bool
	ops      []msgStart // message starts queued, oldest first
	head     int
	window   []byte // the server's last output, when it keeps context
}

// msgStart is a queued data message start.
type msgStart struct {
	op         uint8 // the real opcode (text or binary)
	compressed bool
}

// scan rewrites the frame headers of b not yet scanned (see above), each
// once, even when the rest of its frame comes later (the codec must never
// see RSV1 or take deflate data for text). RSV1 where RFC 7692 forbids it
// is an error.
func (d *deflateConn) scan(b []byte) error {
	for d.scanned < len(b) {
		f := b[d.scanned:]
		if !d.headDone {
			b0 := f[0]
			op, rsv1 := b0&0x0F, b0&0x40 != 0
			switch {
			case op == 0x1 || op == 0x2: // first frame of a message
				d.ops = append(d.ops, msgStart{op: op, compressed: rsv1})
				if rsv1 {
					f[0] = b0&^0x4F | 0x02 // RSV1 off, binary: the codec passes deflate data through
				}
			case rsv1:
				return errors.New("RSV1 on a continuation or control frame")
			}
			d.headDone = true
		}
		size, ok := frameSize(f)
		if !ok || size > uint64(len(f)) {
			return nil // the rest of the frame comes later
		}
		d.scanned += int(size)
		d.headDone = false
	}
	return nil
}

// frameSize is the length of the frame at the start of f, header included;
// ok is false until its header has arrived.
func frameSize(f []byte) (uint64, bool) {
	if len(f) < 2 {
		return 0, false
	}
	n, hl := uint64(f[1]&0x7F), uint64(2)
	switch n {
	case 126:
		if len(f) < 4 {
			return 0, false
		}
		n, hl = uint64(f[2])<<8|uint64(f[3]), 4
	case 127:
		if len(f) < 10 {
			return 0, false
		}
		n, hl = 0, 10
		for _, c := range f[2:10] {
			n = n<<8 | uint64(c)
		}
		if n > 1<<62 { // the codec refuses it; do not overflow here
			return 1 << 62, true
		}
	}
	if f[1]&0x80 != 0 {
		hl += 4
	}
	return hl + n, true
}

// consumed moves the scan mark after the decoder consumed n bytes.
func (d *deflateConn) consumed(n int) { d.scanned = max(d.scanned-n, 0) }

// next takes the oldest queued message start.
func (d *deflateConn) next() (msgStart, bool) {
	if d.head >= len(d.ops) {
		return msgStart{}, false
	}
	m := d.ops[d.head]
	d.head++
	if d.head == len(d.ops) {
		d.ops, d.head = d.ops[:0], 0
	}
	return m, true
}

// inflater is a loop's decompressor and output buffer, shared by its
// connections (a loop handles one message at a time).
type inflater struct {
	src bytes.Reader
	fr  io.ReadCloser
	out []byte
	in  []byte // compressed payload plus the tail
}

// inflate decompresses one message for d.
func (f *inflater) inflate(d *deflateConn, p []byte) ([]byte, error) {
	f.in = append(append(f.in[:0], p...), deflateTail...)
	f.src.Reset(f.in)
	var dict []byte
	if !d.params.serverNoContext {
		dict = d.window
	}
	if f.fr == nil {
		f.fr = flate.NewReaderDict(&f.src, dict)
	} else if err := f.fr.(flate.Resetter).Reset(&f.src, dict); err != nil {
		return nil, err
	}
	f.out = f.out[:0]
	for {
		if len(f.out) == cap(f.out) {
			f.out = append(f.out, 0)[:len(f.out)]
		}
		n, err := f.fr.Read(f.out[len(f.out):cap(f.out)])
		f.out = f.out[:len(f.out)+n]
		if err == io.EOF || (err == nil && n == 0 && f.src.Len() == 0) {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && f.src.Len() == 0 {
				break // the sync-flush tail ends the data, not the stream
			}
			return nil, fmt.Errorf("inflate: %w", err)
		}
	}
	if !d.params.serverNoContext {
		d.keepWindow(f.out)
	}
	return f.out, nil
}

// keepWindow keeps the last serverWindow bytes the server sent.
func (d *deflateConn) keepWindow(out []byte) {
	w := d.params.serverWindow
	if len(out) >= w {
		d.window = append(d.window[:0], out[len(out)-w:]...)
		return
	}
	d.window = append(d.window, out...)
	if len(d.window) > w {
		d.window = d.window[:copy(d.window, d.window[len(d.window)-w:])]
	}
}

// compressTemplate turns an uncompressed message payload into the payload
// of a compressed one whose stamp bytes (payload[at:at+stamp]) sit in a
// stored block, unchanged, so a send patches them like in a plain message.
// It returns the new payload and the stamp's offset in it.
func compressTemplate(payload []byte, at, stamp, level int) ([]byte, int, error) {
	var out bytes.Buffer
	piece := func(p []byte) error {
		if len(p) == 0 {
			return nil
		}
		w, err := flate.NewWriter(&out, level)
		if err != nil {
			return err
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
		return w.Flush() // byte-aligned, ends with 00 00 ff ff
	}
	if err := piece(payload[:at]); err != nil {
		return nil, 0, err
	}
	// A stored block: BFINAL 0, BTYPE 00, padding, LEN, NLEN, the bytes.
	n := uint16(stamp)
	out.Write([]byte{0x00, byte(n), byte(n >> 8), ^byte(n), ^byte(n >> 8)})
	off := out.Len()
	out.Write(payload[at : at+stamp])
	if err := piece(payload[at+stamp:]); err != nil {
		return nil, 0, err
	}
	b := out.Bytes()
	if bytes.HasSuffix(b, deflateTail) {
		b = b[:len(b)-len(deflateTail)]
	} else {
		// The stamp was last: end with an empty stored block's header (the
		// receiver adds LEN/NLEN 00 00 ff ff back).
		b = append(b, 0x00)
	}
	return b, off, nil
}
