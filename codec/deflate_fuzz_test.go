package codec

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzInflate: arbitrary bytes as the compressed payload of a message,
// whole or in fragments (pings between), text or binary, with and without
// context takeover and a size limit. Never a panic; the outcome does not
// depend on how the bytes arrive; what is delivered respects the limit and
// UTF-8; and, differentially, klauspost's inflater (ours) agrees with the
// standard library's on what the stream holds.
func FuzzInflate(f *testing.F) {
	f.Add(stdDeflate(f, 6, []byte("hello hello hello")), []byte{3}, uint64(1), byte(0))
	f.Add(stdDeflate(f, 1, bytes.Repeat([]byte("abc"), 500)), []byte{1, 5, 0}, uint64(2), byte(1|2|4))
	f.Add(stdDeflate(f, 9, make([]byte, 5000)), []byte{}, uint64(3), byte(3<<3))
	f.Add(stdDeflate(f, 0, []byte("stored é")), []byte{2}, uint64(4), byte(1))
	f.Add([]byte{0x00}, []byte{}, uint64(5), byte(1))
	f.Add([]byte{0xff, 0xff}, []byte{}, uint64(6), byte(0))
	f.Add([]byte{}, []byte{0}, uint64(7), byte(2))
	f.Add(stdDeflate(f, 6, []byte("a\xed\xa0\x80")), []byte{}, uint64(8), byte(1))
	f.Fuzz(func(t *testing.T, data, cuts []byte, seed uint64, mode byte) {
		text, pings, ctx := mode&1 != 0, mode&2 != 0, mode&4 != 0
		limit := [4]int64{0, 1, 100, 4000}[mode>>3&3]
		op := OpBinary
		if text {
			op = OpText
		}
		var in []byte
		rest, first := data, true
		for _, c := range cuts {
			k := min(int(c), len(rest))
			fop := OpContinuation
			if first {
				fop = op
			}
			in = append(in, zf(fop, false, first, rest[:k])...)
			rest, first = rest[k:], false
			if pings {
				in = append(in, cf(OpPing, true, "p")...)
			}
		}
		fop := OpContinuation
		if first {
			fop = op
		}
		in = append(in, zf(fop, true, first, rest)...)

		p := pNCT
		if ctx {
			p = Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: 9}
		}
		cfg := &Config{MaxMessageSize: limit}
		whole := feedSplitP(t, cfg, p, bytes.Clone(in), func(n int) int { return n })
		split := feedSplitP(t, cfg, p, bytes.Clone(in), splitter(seed))
		if !sameOutcome(whole, split) {
			t.Fatalf("split feed: %v\nwhole feed: %v", split, whole)
		}
		var delivered *event
		for i, e := range whole.events {
			if e.kind != "msg" {
				continue
			}
			delivered = &whole.events[i]
			if limit > 0 && int64(len(e.data)) > limit {
				t.Fatalf("%d bytes delivered over the %d limit", len(e.data), limit)
			}
			if text && !utf8.ValidString(e.data) {
				t.Fatalf("invalid UTF-8 delivered as text: %q", e.data)
			}
		}
		if limit != 0 || len(data) == 0 {
			return
		}
		std, err := stdInflate(data)
		switch {
		case delivered != nil && (err != nil || string(std) != delivered.data):
			t.Fatalf("delivered %d bytes; the standard library: %d bytes, %v", len(delivered.data), len(std), err)
		case delivered == nil && whole.code == CloseProtocolError && !text && err == nil:
			t.Fatalf("refused as corrupt; the standard library inflated %d bytes", len(std))
		}
	})
}

// FuzzDeflateRoundTrip: any payload, compressed by the encoders at any
// level and window, decodes to itself on the other side, and the
// shareable frame inflates with the standard library.
func FuzzDeflateRoundTrip(f *testing.F) {
	f.Add([]byte("hello, world"), byte(1), byte(15), uint64(1))
	f.Add(bytes.Repeat([]byte("json "), 300), byte(9), byte(8), uint64(2))
	f.Add(jsonMessages(1, 2000, 1)[0], byte(5), byte(10), uint64(3))
	f.Add([]byte{}, byte(1), byte(15), uint64(4))
	f.Fuzz(func(t *testing.T, payload []byte, level, bits byte, seed uint64) {
		c := &Deflate{Mode: ModeContextTakeover, Level: int(level%9) + 1}
		p := Params{ServerMaxWindowBits: 8 + bits%8, ClientMaxWindowBits: 8 + (bits>>3)%8}
		op := OpBinary
		if utf8.Valid(payload) {
			op = OpText
		}
		down, _ := c.AppendMessage(nil, p, op, payload)
		up, _ := c.AppendClientMessage(nil, p, op, testMask, payload)
		want := outcome{events: []event{msg(op, string(payload))}}
		if o := feedSplitP(t, client, p, down, splitter(seed)); !sameOutcome(o, want) {
			t.Fatalf("server to client: %v", o)
		}
		if o := feedSplitP(t, server, p, up, splitter(seed)); !sameOutcome(o, want) {
			t.Fatalf("client to server: %v", o)
		}
		if shared, ok := AppendCompressed(nil, op, payload, c.Level); ok {
			_, z, _ := readServerFrame(t, shared)
			if got, err := stdInflate(z); err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("shared frame: standard library: %v", err)
			}
		}
	})
}

// FuzzNegotiate: any header, in any mode: no panic, what is answered
// parses back (as a client reads it) to what was agreed, context-takeover
// mode answers only parameters that appear in the request, and splitting
// the value over two header lines at a comma changes nothing when the first
// part has no acceptable offer.
func FuzzNegotiate(f *testing.F) {
	for _, tc := range negotiateCases() {
		f.Add(strings.Join(tc.headers, ", "), byte(1))
		f.Add(strings.Join(tc.headers, ", "), byte(2|10<<2))
	}
	f.Fuzz(func(t *testing.T, header string, mode byte) {
		c := &Deflate{Mode: Mode(mode & 3), WindowBits: [4]uint8{0, 9, 12, 15}[mode>>2&3]}
		var p Params
		ok := c.Negotiate(&p, []byte(header))
		if ok != p.Enabled() || (ok && c.Mode == ModeOff) {
			t.Fatalf("ok %v, params %+v, mode %v", ok, p, c.Mode)
		}
		if !ok {
			return
		}
		resp := p.AppendResponse(nil)
		back, err := ParseResponse(resp)
		if err != nil || back != p {
			t.Fatalf("%q: answered %q, read back as %+v, %v; agreed %+v", header, resp, back, err, p)
		}
		if c.Mode == ModeContextTakeover {
			assertOnlyOffered(t, string(resp), header)
		} else if !p.ServerNoContextTakeover || !p.ClientNoContextTakeover {
			t.Fatalf("no-context-takeover mode answered %q", resp)
		}
		if i := strings.IndexByte(header, ','); i >= 0 {
			var q Params
			if c.Negotiate(&q, []byte(header[:i])); !q.Enabled() && strings.Count(header[:i], `"`) == 0 {
				c.Negotiate(&q, []byte(header[i+1:]))
				if q != p {
					t.Fatalf("%q over two lines: %+v, in one: %+v", header, q, p)
				}
			}
		}
	})
}
