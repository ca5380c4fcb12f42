package server

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/codec"
)

// The compression tests' own client side, independent of the codec: the
// standard library's compress/flate deflates what the client sends and
// inflates what the server answers, and frames are read byte by byte.

// compressionOptions are testOptions with permessage-deflate in mode.
func compressionOptions(mode codec.Mode) Options {
	o := testOptions()
	o.Compression.Mode = mode
	return o
}

// zdial upgrades a raw connection to path with one Sec-WebSocket-Extensions
// line per offer, and returns the client and the server's answer ("" when
// it has none). More than one answer line fails the test.
func zdial(t testing.TB, s *Server, path string, offers ...string) (*rawClient, string) {
	t.Helper()
	c := rawDial(t, s)
	var extra strings.Builder
	for _, o := range offers {
		extra.WriteString("Sec-WebSocket-Extensions: " + o + "\r\n")
	}
	if _, err := io.WriteString(c, upgradeRequest(path, extra.String())); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("upgrade response: %v", err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("offers %q: status %d, want 101", offers, resp.StatusCode)
	}
	answers := resp.Header.Values("Sec-WebSocket-Extensions")
	if len(answers) > 1 {
		t.Fatalf("offers %q: %d extension answers %q, want at most one", offers, len(answers), answers)
	}
	ext := ""
	if len(answers) == 1 {
		ext = answers[0]
	}
	return &rawClient{t: t, conn: c, br: br}, ext
}

// syncTail ends a sync flush; RFC 7692 removes it from each message.
var syncTail = []byte{0, 0, 0xff, 0xff}

// zwriter is a client's compressor: fresh per message, or one stream kept
// across messages when the client uses context takeover.
type zwriter struct {
	keep bool
	buf  bytes.Buffer
	fw   *flate.Writer
}

// deflate compresses msg as one RFC 7692 message.
func (z *zwriter) deflate(t testing.TB, msg []byte) []byte {
	t.Helper()
	if z.fw == nil || !z.keep {
		var err error
		if z.fw, err = flate.NewWriter(&z.buf, flate.BestSpeed); err != nil {
			t.Fatal(err)
		}
	}
	z.buf.Reset()
	if _, err := z.fw.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := z.fw.Flush(); err != nil {
		t.Fatal(err)
	}
	b := z.buf.Bytes()
	if !bytes.HasSuffix(b, syncTail) {
		t.Fatalf("sync flush without its tail: %x", b)
	}
	return bytes.Clone(b[:len(b)-len(syncTail)])
}

// zDeflate compresses one message on its own.
func zDeflate(t testing.TB, msg []byte) []byte {
	var z zwriter
	return z.deflate(t, msg)
}

// zFrame is a masked client frame with RSV1 set when rsv1.
func zFrame(op codec.OpCode, fin, rsv1 bool, payload []byte) []byte {
	var rsv byte
	if rsv1 {
		rsv = 4 // RSV1 is the highest of the three bits
	}
	return frame(fin, rsv, op, true, payload)
}

// zInflate inflates one server message with the standard library, with
// an empty window: the server compresses every message on its own.
func zInflate(payload []byte) ([]byte, error) {
	tail := []byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff} // the sync tail, then an empty final block
	return io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader(tail))))
}

// zmsg is one message from the server.
type zmsg struct {
	op         codec.OpCode
	payload    []byte // inflated
	compressed bool   // RSV1 was set
	wire       int    // payload bytes on the wire
}

// readFrame reads one frame, RSV1 allowed.
func (r *rawClient) readFrame() (b0 byte, payload []byte) {
	r.t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		r.t.Fatalf("read frame: %v", err)
	}
	if h[0]&0x30 != 0 || h[1]&0x80 != 0 {
		r.t.Fatalf("server frame with RSV2/RSV3 or masked: %x", h)
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var e [2]byte
		_, _ = io.ReadFull(r.br, e[:])
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		_, _ = io.ReadFull(r.br, e[:])
		n = binary.BigEndian.Uint64(e[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r.br, p); err != nil {
		r.t.Fatalf("read payload: %v", err)
	}
	return h[0], p
}

// readZ reads the next data message (after any control frames, which must
// not be compressed), inflating it if RSV1 is set.
func (r *rawClient) readZ() zmsg {
	r.t.Helper()
	for {
		b0, p := r.readFrame()
		op := codec.OpCode(b0 & 0x0F)
		rsv1 := b0&0x40 != 0
		if op.IsControl() {
			if rsv1 {
				r.t.Fatalf("control frame %v with RSV1", op)
			}
			if op == codec.OpClose {
				r.t.Fatalf("server closed: %x", p)
			}
			continue
		}
		if b0&0x80 == 0 || op == codec.OpContinuation {
			r.t.Fatalf("server fragmented a message: first byte %#x", b0)
		}
		m := zmsg{op: op, payload: p, compressed: rsv1, wire: len(p)}
		if rsv1 {
			var err error
			if m.payload, err = zInflate(p); err != nil {
				r.t.Fatalf("server's compressed %v message of %d bytes does not inflate: %v", op, len(p), err)
			}
		}
		return m
	}
}

// jsonText is n bytes of chat-like JSON: compressible as real traffic is.
func jsonText(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
	b := []byte(`{"type":"echo","data":[`)
	for len(b) < n-2 {
		b = append(b, `{"user":"`...)
		b = append(b, words[r.IntN(len(words))]...)
		b = append(b, `","n":`...)
		b = strconv.AppendInt(b, int64(r.IntN(1000)), 10)
		b = append(b, "},"...)
	}
	b = append(b[:len(b)-1], "]}"...)
	for len(b) < n {
		b = append(b[:len(b)-1], ' ', '}')
	}
	return b[:n:n]
}

// noise is n bytes that deflate cannot shrink.
func noise(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
