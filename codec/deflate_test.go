package codec

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

type deflateCase struct {
	name string
	cfg  *Config
	p    Params // zero: pNCT
	in   []byte
	want []event
	code CloseCode
}

func deflateCases(t *testing.T) []deflateCase {
	z := func(s string) []byte { return stdDeflate(t, 6, []byte(s)) }
	text := strings.Repeat("permessage-deflate ", 40)
	zt := z(text)
	limit := &Config{MaxMessageSize: 100}
	hundred := strings.Repeat("0123456789", 10)
	random := randomBytes(3000, 1)
	corrupt := []byte{0xff, 0xff, 0xff, 0xff} // BTYPE 11: reserved
	return []deflateCase{
		{name: "compressed text", in: zf(OpText, true, true, zt), want: []event{msg(OpText, text)}},
		{name: "compressed binary", in: zf(OpBinary, true, true, z("\x00\x01\xff")), want: []event{msg(OpBinary, "\x00\x01\xff")}},
		{name: "empty message (0x00)", in: zf(OpText, true, true, z("")), want: []event{msg(OpText, "")}},
		{name: "zero-length compressed payload", in: zf(OpBinary, true, true, nil), want: []event{msg(OpBinary, "")}},
		{name: "uncompressed message on a compressed connection", in: cf(OpText, true, "plain"), want: []event{msg(OpText, "plain")}},
		{name: "context takeover params, independent message", p: pCT, in: zf(OpText, true, true, zt), want: []event{msg(OpText, text)}},
		{name: "incompressible data (stored blocks)", in: zf(OpBinary, true, true, stdDeflate(t, 0, random)),
			want: []event{msg(OpBinary, string(random))}},
		{name: "mixed compressed and plain",
			in:   cat(zf(OpText, true, true, z("one")), cf(OpText, true, "two"), zf(OpBinary, true, true, z("three"))),
			want: []event{msg(OpText, "one"), msg(OpText, "two"), msg(OpBinary, "three")}},

		{name: "fragmented", in: splitFragments(OpText, zt, 3), want: []event{msg(OpText, text)}},
		{name: "fragmented with empty fragments",
			in:   cat(zf(OpBinary, false, true, nil), zf(OpContinuation, false, false, zt), zf(OpContinuation, true, false, nil)),
			want: []event{msg(OpBinary, text)}},
		{name: "control frames between compressed fragments",
			in: cat(zf(OpText, false, true, zt[:5]), cf(OpPing, true, "p"), zf(OpContinuation, false, false, zt[5:9]),
				cf(OpPong, true, "q"), zf(OpContinuation, true, false, zt[9:])),
			want: []event{ping("p"), pong("q"), msg(OpText, text)}},
		{name: "fragmented empty message", in: cat(zf(OpText, false, true, nil), zf(OpContinuation, true, false, nil)),
			want: []event{msg(OpText, "")}},
		{name: "compressed after plain fragmented",
			in:   cat(cf(OpText, false, "a"), cf(OpContinuation, true, "b"), zf(OpText, true, true, z("c"))),
			want: []event{msg(OpText, "ab"), msg(OpText, "c")}},
		{name: "plain continuation after compressed first fragment is still compressed",
			in: cat(zf(OpBinary, false, true, z("xyz")), zf(OpContinuation, true, false, nil)), want: []event{msg(OpBinary, "xyz")}},

		{name: "RSV1 without the extension", cfg: server, p: Params{}, in: zf(OpText, true, true, zt), code: 1002},
		{name: "RSV1 on a continuation", in: cat(zf(OpText, false, true, zt[:4]), zf(OpContinuation, true, true, zt[4:])), code: 1002},
		{name: "RSV1 on a continuation of a plain message", in: cat(cf(OpText, false, "a"), zf(OpContinuation, true, true, z("b"))), code: 1002},
		{name: "RSV1 on ping", in: zf(OpPing, true, true, nil), code: 1002},
		{name: "RSV1 on pong", in: zf(OpPong, true, true, nil), code: 1002},
		{name: "RSV1 on close", in: zf(OpClose, true, true, []byte{3, 232}), code: 1002},
		{name: "RSV1 on a ping between fragments", in: cat(zf(OpText, false, true, zt[:4]), zf(OpPing, true, true, nil)), code: 1002},
		{name: "RSV2 with the extension", in: setB0(zf(OpText, true, false, []byte("x")), 0x20), code: 1002},
		{name: "RSV3 with the extension", in: setB0(zf(OpText, true, true, zt), 0x10), code: 1002},

		{name: "corrupt text", in: zf(OpText, true, true, corrupt), code: 1007},
		{name: "corrupt binary", in: zf(OpBinary, true, true, corrupt), code: 1002},
		{name: "truncated text stream", in: zf(OpText, true, true, zt[:len(zt)/2]), code: 1007},
		{name: "truncated binary stream", in: zf(OpBinary, true, true, zt[:len(zt)/2]), code: 1002},
		{name: "corrupt fragmented", in: cat(zf(OpText, false, true, zt[:6]), zf(OpContinuation, true, false, corrupt)), code: 1007},
		{name: "reference before the start (no context)", in: zf(OpBinary, true, true, stdDeflateStream(t, 6, []byte(text), []byte(text))[1]), code: 1002},
		{name: "invalid UTF-8 in compressed text", in: zf(OpText, true, true, z("ab\xffcd")), code: 1007},
		{name: "compressed text ends inside a character", in: zf(OpText, true, true, z("ok\xe2\x82")), code: 1007},
		{name: "surrogate in compressed text", in: zf(OpText, true, true, z("a\xed\xa0\x80")), code: 1007},
		{name: "compressed binary need not be UTF-8", in: zf(OpBinary, true, true, z("\xff\xfe")), want: []event{msg(OpBinary, "\xff\xfe")}},
		{name: "close after compressed", in: cat(zf(OpText, true, true, z("hi")), cf(OpClose, true, closePayload(1000, ""))),
			want: []event{msg(OpText, "hi"), closed(1000, "")}},

		{name: "limit exact inflated", cfg: limit, in: zf(OpText, true, true, z(hundred)), want: []event{msg(OpText, hundred)}},
		{name: "limit +1 inflated", cfg: limit, in: zf(OpText, true, true, z(hundred+"x")), code: 1009},
		{name: "limit +1 inflated, fragmented", cfg: limit, in: splitFragments(OpBinary, z(hundred+"x"), 2), code: 1009},
		{name: "limit applies to each message", cfg: limit,
			in:   cat(zf(OpText, true, true, z(hundred)), zf(OpText, true, true, z(hundred))),
			want: []event{msg(OpText, hundred), msg(OpText, hundred)}},
		{name: "limit: incompressible message of exactly the limit", cfg: limit,
			in: zf(OpBinary, true, true, stdDeflate(t, 0, random[:100])), want: []event{msg(OpBinary, string(random[:100]))}},
		{name: "limit: compressed bytes past limit+limit/8+64 refused at the header", cfg: limit,
			in: zf(OpBinary, true, true, make([]byte, 177)), code: 1009},
	}
}

func TestDeflateDecodeRules(t *testing.T) {
	for _, tc := range deflateCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			cfg, p := tc.cfg, tc.p
			if cfg == nil {
				cfg = server
			}
			if p == (Params{}) && !strings.Contains(tc.name, "without the extension") {
				p = pNCT
			}
			whole := feedSplitP(t, cfg, p, slices.Clone(tc.in), func(n int) int { return n })
			if whole.code != tc.code || (tc.code == 0 && whole.err != nil) {
				t.Fatalf("got code %d (%v), want %d", whole.code, whole.err, tc.code)
			}
			if !sameOutcome(whole, outcome{events: tc.want, code: tc.code, err: whole.err, pending: whole.pending}) {
				t.Fatalf("got %v\nwant events %v", whole, tc.want)
			}
			if tc.code == 0 && whole.pending > 0 {
				t.Fatalf("%d bytes left unconsumed", whole.pending)
			}
			for i, next := range []func(int) int{
				func(int) int { return 1 },
				func(int) int { return 5 },
				rand.New(rand.NewPCG(3, uint64(len(tc.in)))).IntN,
			} {
				if got := feedSplitP(t, cfg, p, slices.Clone(tc.in), next); !sameOutcome(got, whole) {
					t.Fatalf("split %d: got %v\nwhole feed gave %v", i, got, whole)
				}
			}
		})
	}
}

// TestInflateStandardLibrary: messages the standard library compresses, at
// every level and size, come out as they went in, alone and fragmented.
func TestInflateStandardLibrary(t *testing.T) {
	var payloads [][]byte
	for _, n := range []int{1, 10, 125, 126, 1000, 65535, 65536, 100_000} {
		payloads = append(payloads, bytes.Repeat([]byte("abc"), n)[:n], randomBytes(n, uint64(n)))
	}
	payloads = append(payloads, jsonMessages(4, 1024, 1)...)
	for _, level := range []int{0, 1, 9} {
		for _, pl := range payloads {
			z := stdDeflate(t, level, pl)
			for _, in := range [][]byte{zf(OpBinary, true, true, z), splitFragments(OpBinary, z, 4)} {
				o := feedSplitP(t, server, pNCT, in, func(n int) int { return n })
				if o.err != nil || len(o.events) != 1 || o.events[0].data != string(pl) {
					t.Fatalf("level %d, %d bytes: %v", level, len(pl), o.err)
				}
			}
		}
	}
}

// TestInflateContextTakeover: a peer that keeps its window (one standard
// library writer across messages) is understood only by a decoder that
// keeps it too.
func TestInflateContextTakeover(t *testing.T) {
	msgs := jsonMessages(50, 700, 2)
	zs := stdDeflateStream(t, 6, msgs...)
	var in []byte
	var want []event
	total := 0
	for i, z := range zs {
		total += len(z)
		if i%3 == 1 {
			in = append(in, splitFragments(OpText, z, 3)...)
		} else {
			in = append(in, zf(OpText, true, true, z)...)
		}
		want = append(want, msg(OpText, string(msgs[i])))
	}
	t.Logf("50 JSON messages of ~700 B: %d compressed bytes with context takeover", total)
	if o := feedSplitP(t, server, pCT, slices.Clone(in), splitter(5)); !sameOutcome(o, outcome{events: want}) {
		t.Fatalf("context takeover: %v", o)
	}
	// Without the window the second message refers to bytes the decoder
	// does not have: the stream is corrupt for it (text: 1007).
	o := feedSplitP(t, server, pNCT, slices.Clone(in), func(n int) int { return n })
	if o.code != CloseInvalidPayload || len(o.events) != 1 {
		t.Fatalf("no-context decoder on a context stream: %v", o)
	}
}

// TestWindowBounded: the window kept per connection never passes
// 2^client_max_window_bits (512 B at least), is held only with context
// takeover, and goes when the decoder stops.
func TestWindowBounded(t *testing.T) {
	msgs := jsonMessages(20, 3000, 3)
	for _, bits := range []uint8{8, 9, 10, 12, 15} {
		p := Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: bits}
		var d tdec
		d.Init(server)
		d.SetDeflate(p)
		max := 1 << max(bits, 9)
		for i, m := range msgs {
			z := appendDeflate(nil, m, 1, bits) // window-limited: valid for this peer
			r := &recorder{}
			if _, err := d.Feed(zf(OpText, true, true, z), r); err != nil || len(r.events) != 1 || r.events[0].data != string(m) {
				t.Fatalf("bits %d message %d: %v", bits, i, err)
			}
			if got := d.WindowBytes(); got > max || got == 0 {
				t.Fatalf("bits %d: window holds %d bytes, bound %d", bits, got, max)
			}
		}
		if _, err := d.Feed(cf(OpClose, true, ""), &recorder{}); err != nil || d.WindowBytes() != 0 {
			t.Fatalf("after close: %v, window %d", err, d.WindowBytes())
		}
	}
	var d tdec
	d.Init(server)
	d.SetDeflate(pNCT)
	if _, err := d.Feed(zf(OpText, true, true, stdDeflate(t, 6, msgs[0])), &recorder{}); err != nil || d.WindowBytes() != 0 {
		t.Fatalf("no context takeover: %v, window %d", err, d.WindowBytes())
	}
}

// TestWindowTooSmallForPeer: a peer referring farther back than the
// agreed window is refused, not answered with garbage.
func TestWindowTooSmallForPeer(t *testing.T) {
	a, b := randomBytes(2000, 9), randomBytes(100, 10)
	zs := stdDeflateStream(t, 6, a, append(bytes.Clone(b), a[:1000]...)) // refers 2100 bytes back
	p := Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: 10}
	in := cat(zf(OpBinary, true, true, zs[0]), zf(OpBinary, true, true, zs[1]))
	if o := feedSplitP(t, server, p, in, func(n int) int { return n }); o.code != CloseProtocolError || len(o.events) != 1 {
		t.Fatalf("reference past a 1 KiB window: %v", o)
	}
	if o := feedSplitP(t, server, pCT, slices.Clone(in), func(n int) int { return n }); o.err != nil || len(o.events) != 2 {
		t.Fatalf("the same with a 32 KiB window: %v", o)
	}
}

func TestInflateObserver(t *testing.T) {
	z := stdDeflate(t, 6, bytes.Repeat([]byte("x"), 1000))
	var d tdec
	d.Init(server)
	d.SetDeflate(pNCT)
	o := &observer{}
	if _, err := d.Feed(cat(zf(OpBinary, true, true, z), cf(OpText, true, "plain")), o); err != nil {
		t.Fatal(err)
	}
	if o.compressed != len(z) || o.inflated != 1000 || o.calls != 1 || len(o.events) != 2 {
		t.Fatalf("observer saw %+v", o)
	}
}

type observer struct {
	recorder
	compressed, inflated, calls int
}

func (o *observer) OnInflated(c, i int) { o.compressed += c; o.inflated += i; o.calls++ }

func TestSetDeflateClientSide(t *testing.T) {
	// A client inflates what the server sends: the server's parameters
	// apply (here: the server keeps its window, limited to 9 bits).
	p := Params{ClientNoContextTakeover: true, ServerMaxWindowBits: 9, ClientMaxWindowBits: 15}
	var d tdec
	d.Init(client)
	d.SetDeflate(p)
	m := jsonMessages(2, 2000, 4)
	for _, x := range m {
		f, ok := deflateCT.AppendMessage(nil, p, OpText, x)
		r := &recorder{}
		if _, err := d.Feed(f, r); !ok || err != nil || r.events[0].data != string(x) {
			t.Fatalf("client decode: compressed %v, %v", ok, err)
		}
	}
	if d.WindowBytes() != 512 {
		t.Fatalf("client keeps %d bytes of the server's 9-bit window, want 512", d.WindowBytes())
	}
	var pe *Error
	if _, err := d.Feed(setB0(sf(OpPing, true, ""), bitRSV1), &recorder{}); !errors.As(err, &pe) || pe.Code != 1002 {
		t.Fatalf("RSV1 on a ping to a client: %v", err)
	}
}
