package codec

import (
	"bytes"
	stdflate "compress/flate"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
)

// Parameters as a server agrees them in each mode.
var (
	pNCT = Params{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	pCT  = Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
)

// stdDeflate compresses one message on its own with the standard library
// (independent of klauspost's encoder), as RFC 7692 sends it: sync flush,
// tail removed.
func stdDeflate(tb testing.TB, level int, msg []byte) []byte {
	tb.Helper()
	return stdDeflateStream(tb, level, msg)[0]
}

// stdDeflateStream compresses msgs with one writer kept across them:
// context takeover, each later message may refer back into earlier ones.
func stdDeflateStream(tb testing.TB, level int, msgs ...[]byte) [][]byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := stdflate.NewWriter(&buf, level)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		buf.Reset()
		if _, err := w.Write(m); err != nil {
			tb.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			tb.Fatal(err)
		}
		b := buf.Bytes()
		if !bytes.HasSuffix(b, syncTail) {
			tb.Fatalf("standard flush output does not end with the sync tail: %x", b)
		}
		out[i] = bytes.Clone(b[:len(b)-4])
	}
	return out
}

// stdInflate inflates one RFC 7692 message with the standard library.
func stdInflate(payload []byte) ([]byte, error) {
	r := stdflate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader(deflateEnd)))
	return io.ReadAll(r)
}

// zf builds a masked client frame, with RSV1 when rsv1.
func zf(op OpCode, fin, rsv1 bool, payload []byte) []byte {
	f := AppendClientFrame(nil, op, fin, testMask, payload)
	if rsv1 {
		f[0] |= bitRSV1
	}
	return f
}

// splitFragments cuts a compressed payload into n frames of one message:
// RSV1 on the first only.
func splitFragments(op OpCode, z []byte, n int) []byte {
	var out []byte
	step := len(z)/n + 1
	for i := 0; i < n; i++ {
		lo, hi := min(i*step, len(z)), min((i+1)*step, len(z))
		fop := OpContinuation
		if i == 0 {
			fop = op
		}
		out = append(out, zf(fop, i == n-1, i == 0, z[lo:hi])...)
	}
	return out
}

// readServerFrame parses one unmasked frame at the start of b: its first
// byte, its payload and its total length.
func readServerFrame(tb testing.TB, b []byte) (b0 byte, payload []byte, size int) {
	tb.Helper()
	if len(b) < 2 || b[1]&bitMask != 0 {
		tb.Fatalf("not an unmasked frame: %x", b[:min(len(b), 16)])
	}
	n, hl := int(b[1]&0x7F), 2
	switch n {
	case 126:
		n, hl = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		n, hl = int(binary.BigEndian.Uint64(b[2:])), 10
	}
	if len(b) < hl+n {
		tb.Fatalf("frame of %d bytes, %d present", hl+n, len(b))
	}
	return b[0], b[hl : hl+n], hl + n
}

// jsonMessages returns n chat-like JSON messages of about size bytes:
// repetitive in structure, varied in values, as an edge node carries.
func jsonMessages(n, size int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 7))
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"}
	out := make([][]byte, n)
	for i := range out {
		b := []byte(`{"type":"message","channel":"chat:room-` + strconv.Itoa(r.IntN(20)) + `","data":{"id":` + strconv.Itoa(100000+i) +
			`,"user":"user-` + strconv.Itoa(r.IntN(500)) + `","ts":` + strconv.Itoa(1700000000+i*7) + `,"items":[`)
		for len(b) < size-40 {
			b = append(b, `{"k":"`...)
			b = append(b, words[r.IntN(len(words))]...)
			b = append(b, `","v":`...)
			b = strconv.AppendInt(b, int64(r.IntN(10000)), 10)
			b = append(b, `,"ok":true},`...)
		}
		b = append(b[:len(b)-1], `]}}`...)
		out[i] = b
	}
	return out
}

// randomBytes returns n bytes that do not compress.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
