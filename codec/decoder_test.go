package codec

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

var (
	server = &Config{}
	client = &Config{Client: true}
)

// setB0 returns frame with bits or-ed into its first byte.
func setB0(frame []byte, bits byte) []byte {
	f := slices.Clone(frame)
	f[0] |= bits
	return f
}

// rawHeader builds a masked header by hand, for lengths and flags the
// encoders never produce.
func rawHeader(b0 byte, lenBytes ...byte) []byte {
	h := append([]byte{b0}, lenBytes...)
	h[1] |= bitMask
	return append(h, testMask[:]...)
}

type decodeCase struct {
	name string
	cfg  *Config
	in   []byte
	want []event
	code CloseCode // expected *Error code, 0 for none
}

func decodeCases() []decodeCase {
	limit := &Config{MaxMessageSize: 10}
	cases := []decodeCase{
		{name: "text", in: cf(OpText, true, "hello"), want: []event{msg(OpText, "hello")}},
		{name: "binary", in: cf(OpBinary, true, "\x00\xff\x80"), want: []event{msg(OpBinary, "\x00\xff\x80")}},
		{name: "empty text", in: cf(OpText, true, ""), want: []event{msg(OpText, "")}},
		{name: "two frames", in: cat(cf(OpText, true, "a"), cf(OpBinary, true, "b")),
			want: []event{msg(OpText, "a"), msg(OpBinary, "b")}},
		{name: "client side unmasked", cfg: client, in: sf(OpText, true, "hi"), want: []event{msg(OpText, "hi")}},

		{name: "rsv1", in: setB0(cf(OpText, true, "x"), 0x40), code: 1002},
		{name: "rsv2", in: setB0(cf(OpText, true, "x"), 0x20), code: 1002},
		{name: "rsv3", in: setB0(cf(OpText, true, "x"), 0x10), code: 1002},
		{name: "rsv on ping", in: setB0(cf(OpPing, true, ""), 0x40), code: 1002},
		{name: "unmasked to server", in: sf(OpText, true, "x"), code: 1002},
		{name: "masked to client", cfg: client, in: cf(OpText, true, "x"), code: 1002},
		{name: "ping not fin", in: cf(OpPing, false, ""), code: 1002},
		{name: "close not fin", in: cf(OpClose, false, ""), code: 1002},
		{name: "ping 126 bytes", in: cf(OpPing, true, strings.Repeat("p", 126)), code: 1002},
		{name: "ping 125 bytes", in: cf(OpPing, true, strings.Repeat("p", 125)), want: []event{ping(strings.Repeat("p", 125))}},
		{name: "pong 64-bit length", in: rawHeader(0x8A, 127, 0, 0, 0, 0, 0, 0, 0, 1), code: 1002},
		{name: "close 16-bit length", in: rawHeader(0x88, 126, 0, 2), code: 1002},
		{name: "64-bit length top bit", in: rawHeader(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1), code: 1002},
		{name: "non-minimal 16-bit length",
			in:   cat(rawHeader(0x81, 126, 0, 2), maskedPayload("ok")),
			want: []event{msg(OpText, "ok")}},
		{name: "non-minimal 64-bit length",
			in:   cat(rawHeader(0x82, 127, 0, 0, 0, 0, 0, 0, 0, 2), maskedPayload("ok")),
			want: []event{msg(OpBinary, "ok")}},

		{name: "continuation without message", in: cf(OpContinuation, true, "x"), code: 1002},
		{name: "continuation after finished message",
			in: cat(cf(OpText, true, "a"), cf(OpContinuation, true, "b")), want: []event{msg(OpText, "a")}, code: 1002},
		{name: "text inside fragmented message", in: cat(cf(OpText, false, "a"), cf(OpText, true, "b")), code: 1002},
		{name: "binary inside fragmented message", in: cat(cf(OpBinary, false, "a"), cf(OpBinary, false, "b")), code: 1002},
		{name: "fragmented text", in: cat(cf(OpText, false, "he"), cf(OpContinuation, false, ""), cf(OpContinuation, true, "llo")),
			want: []event{msg(OpText, "hello")}},
		{name: "fragmented binary empty fragments", in: cat(cf(OpBinary, false, ""), cf(OpContinuation, true, "")),
			want: []event{msg(OpBinary, "")}},
		{name: "control frames inside fragments",
			in: cat(cf(OpText, false, "a"), cf(OpPing, true, "1"), cf(OpContinuation, false, "b"),
				cf(OpPong, true, "2"), cf(OpContinuation, true, "c")),
			want: []event{ping("1"), pong("2"), msg(OpText, "abc")}},
		{name: "close inside fragments",
			in:   cat(cf(OpBinary, false, "a"), cf(OpClose, true, closePayload(1000, "bye"))),
			want: []event{closed(1000, "bye")}},

		{name: "close empty", in: cf(OpClose, true, ""), want: []event{closed(CloseNoStatus, "")}},
		{name: "close code only", in: cf(OpClose, true, closePayload(1001, "")), want: []event{closed(1001, "")}},
		{name: "close 1 byte", in: cf(OpClose, true, "\x03"), code: 1002},
		{name: "close reason bad utf8", in: cf(OpClose, true, closePayload(1000, "a\xffb")), code: 1007},
		{name: "close reason utf8", in: cf(OpClose, true, closePayload(4000, "ciao ✓")), want: []event{closed(4000, "ciao ✓")}},
		{name: "bytes after close ignored",
			in:   cat(cf(OpClose, true, ""), cf(OpText, true, "late"), []byte{0xff}),
			want: []event{closed(CloseNoStatus, "")}},

		{name: "text bad utf8", in: cf(OpText, true, "ab\xc3\x28"), code: 1007},
		{name: "text surrogate", in: cf(OpText, true, "\xed\xa0\x80"), code: 1007},
		{name: "text overlong", in: cf(OpText, true, "\xc0\xaf"), code: 1007},
		{name: "text above U+10FFFF", in: cf(OpText, true, "\xf4\x90\x80\x80"), code: 1007},
		{name: "text truncated at end", in: cf(OpText, true, "ok\xe2\x82"), code: 1007},
		{name: "binary need not be utf8", in: cf(OpBinary, true, "\xff\xfe"), want: []event{msg(OpBinary, "\xff\xfe")}},
		{name: "fragmented text bad in first fragment", in: cat(cf(OpText, false, "\xff"), cf(OpContinuation, true, "a")), code: 1007},
		{name: "fragmented text truncated at end",
			in: cat(cf(OpText, false, "\xe2"), cf(OpContinuation, true, "\x82")), code: 1007},
		{name: "fragmented text char across three fragments",
			in:   cat(cf(OpText, false, "\xf0\x9f"), cf(OpPing, true, ""), cf(OpContinuation, false, "\x98"), cf(OpContinuation, true, "\x80")),
			want: []event{ping(""), msg(OpText, "😀")}},

		{name: "limit exact single", cfg: limit, in: cf(OpBinary, true, "0123456789"), want: []event{msg(OpBinary, "0123456789")}},
		{name: "limit +1 single", cfg: limit, in: cf(OpBinary, true, "0123456789a"), code: 1009},
		{name: "limit exact fragments", cfg: limit,
			in:   cat(cf(OpText, false, "0123"), cf(OpContinuation, false, "456"), cf(OpContinuation, true, "789")),
			want: []event{msg(OpText, "0123456789")}},
		{name: "limit +1 fragments", cfg: limit,
			in: cat(cf(OpText, false, "0123"), cf(OpContinuation, false, "456"), cf(OpContinuation, true, "789a")), code: 1009},
		{name: "limit does not apply to control", cfg: &Config{MaxMessageSize: 1},
			in: cf(OpPing, true, "12345"), want: []event{ping("12345")}},
		{name: "limit is per message", cfg: limit,
			in:   cat(cf(OpText, true, "0123456789"), cf(OpText, true, "0123456789")),
			want: []event{msg(OpText, "0123456789"), msg(OpText, "0123456789")}},
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		cases = append(cases, decodeCase{name: "reserved " + OpCode(op).String(), in: cf(OpCode(op), true, ""), code: 1002})
	}
	for _, c := range []CloseCode{0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535} {
		cases = append(cases, decodeCase{name: "close " + c.String(), in: cf(OpClose, true, closePayload(c, "")), code: 1002})
	}
	for _, c := range []CloseCode{1000, 1002, 1003, 1007, 1011, 1014, 3000, 4999} {
		cases = append(cases, decodeCase{name: "close " + c.String(), in: cf(OpClose, true, closePayload(c, "")),
			want: []event{closed(c, "")}})
	}
	return cases
}

func maskedPayload(s string) []byte {
	p := []byte(s)
	maskBytes(testMask, 0, p)
	return p
}

func TestDecodeRules(t *testing.T) {
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg == nil {
				cfg = server
			}
			whole := feedWhole(t, cfg, tc.in)
			if whole.code != tc.code {
				t.Fatalf("error code %d, want %d (%v)", whole.code, tc.code, whole.err)
			}
			if tc.code == 0 && whole.err != nil {
				t.Fatalf("unexpected error %v", whole.err)
			}
			if !sameOutcome(whole, outcome{events: tc.want, code: tc.code, err: whole.err, pending: whole.pending}) {
				t.Fatalf("got %v\nwant events %v", whole, tc.want)
			}
			if tc.code == 0 && whole.pending > 0 {
				t.Fatalf("%d bytes left unconsumed", whole.pending)
			}
			for _, split := range []struct {
				name string
				next func(int) int
			}{
				{"bytewise", func(int) int { return 1 }},
				{"3 bytes", func(int) int { return 3 }},
				{"random", rand.New(rand.NewPCG(1, uint64(len(tc.in)))).IntN},
			} {
				got := feedSplit(t, cfg, slices.Clone(tc.in), split.next)
				if !sameOutcome(got, whole) {
					t.Fatalf("%s: got %v\nwhole-buffer feed gave %v", split.name, got, whole)
				}
			}
		})
	}
}

func TestPayloadLengths(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte('a' + i%26)
		}
		for _, side := range []struct {
			cfg   *Config
			frame []byte
		}{
			{server, AppendClientFrame(nil, OpText, true, testMask, payload)},
			{client, AppendFrame(nil, OpText, true, payload)},
		} {
			want := []event{msg(OpText, string(payload))}
			whole := feedWhole(t, side.cfg, side.frame)
			if whole.err != nil || !sameOutcome(whole, outcome{events: want}) {
				t.Fatalf("n=%d client=%v: whole feed: %v", n, side.cfg.Client, whole.err)
			}
			// Byte-at-a-time on 64 KiB frames is slow only with the race
			// detector; chunks of 7 still cross every header boundary.
			step := 1
			if n > 1000 {
				step = 7
			}
			split := feedSplit(t, side.cfg, slices.Clone(side.frame), func(int) int { return step })
			if !sameOutcome(split, whole) {
				t.Fatalf("n=%d client=%v: split feed differs: %v", n, side.cfg.Client, split.err)
			}
		}
	}
}

func TestDecoderSize(t *testing.T) {
	size := unsafe.Sizeof(Decoder{})
	t.Logf("unsafe.Sizeof(Decoder{}) = %d", size)
	if size > 16 {
		t.Fatalf("Decoder is %d bytes, budget 16 (wsConn embeds it in every connection; rare state goes to spill, the Config is passed per call)", size)
	}
}

// TestFailFast: errors visible in the part of a frame that has arrived are
// reported without waiting for the rest.
func TestFailFast(t *testing.T) {
	bad := append([]byte("abc\xff"), bytes.Repeat([]byte("x"), 996)...)
	longBad := AppendClientFrame(nil, OpText, true, testMask, bad)
	first := cf(OpText, false, "ok ")
	second := AppendClientFrame(nil, OpContinuation, true, testMask, bad)
	hdr := AppendHeader(nil, OpBinary, true, 11)
	hdr[1] |= bitMask
	cases := []struct {
		name string
		cfg  *Config
		in   []byte // arrives in one read; the frame is unfinished
		code CloseCode
	}{
		{"bad utf8 in prefix of long frame", server, longBad[:8+10], 1007},
		{"bad utf8 in prefix of a later fragment", server, cat(first, second[:8+10]), 1007},
		{"surrogate split across fragments", server, cat(cf(OpText, false, "\xed"), AppendClientFrame(nil, OpContinuation, true, testMask, []byte("\xa0\x80 and more"))[:7]), 1007},
		{"too big at header time", &Config{MaxMessageSize: 10}, hdr[:4], 1009},
		{"reserved bits from the first byte", server, []byte{0xC1}, 1002},
		{"reserved opcode from the first byte", server, []byte{0x83}, 1002},
		{"unmasked from the second byte", server, []byte{0x81, 0x05}, 1002},
		{"64-bit top bit from the third byte", server, []byte{0x82, 0xFF, 0x80}, 1002},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d tdec
			d.Init(tc.cfg)
			r := &recorder{}
			_, err := d.Feed(slices.Clone(tc.in), r)
			var pe *Error
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.code != 0 && (!errors.As(err, &pe) || pe.Code != tc.code):
				t.Fatalf("got %v, want close %d before the frame completes", err, tc.code)
			}
		})
	}
	// Fragments: 7 bytes assembled, then a continuation header announcing 4.
	cfg := &Config{MaxMessageSize: 10}
	cont := AppendClientFrame(nil, OpContinuation, true, testMask, []byte("7890"))
	var d tdec
	d.Init(cfg)
	_, err := d.Feed(cat(cf(OpBinary, false, "0123456"), cont[:2]), &recorder{})
	if pe := (*Error)(nil); !errors.As(err, &pe) || pe.Code != CloseTooBig {
		t.Fatalf("fragments over the limit: got %v, want 1009 from the header", err)
	}
}

// TestPartialPrefix: an unfinished frame is unmasked in place; the rest
// completes it correctly, and a valid but unfinished
// UTF-8 character at the cut is not an error.
func TestPartialPrefix(t *testing.T) {
	text := "αβγδ" + strings.Repeat("ε", 200)
	frame := AppendClientFrame(nil, OpText, true, testMask, []byte(text))
	var d tdec
	d.Init(server)
	r := &recorder{}
	var tail []byte // what the caller keeps: nothing is consumed until the end
	for _, cut := range []int{1, 3, 8, 9, 10, 101, len(frame) - 1} {
		buf := append(tail, frame[len(tail):cut]...)
		n, err := d.Feed(buf, r)
		if err != nil || n != 0 {
			t.Fatalf("cut %d: consumed %d, err %v", cut, n, err)
		}
		if cut > 8 && bytes.Equal(buf[8:], frame[8:cut]) {
			t.Fatalf("cut %d: prefix not unmasked in place", cut)
		}
		tail = buf
	}
	buf := append(tail, frame[len(tail):]...)
	n, err := d.Feed(buf, r)
	if err != nil || n != len(frame) || len(r.events) != 1 || r.events[0].data != text {
		t.Fatalf("completion: consumed %d of %d, err %v, events %v", n, len(frame), err, r.events)
	}
}

func TestUTF8AcrossFragments(t *testing.T) {
	good := "aé€😀z"
	bads := []string{"a\xed\xa0\x80z", "é\xc3", "😀\xf0\x9f\x98", "\xf4\x90\x80\x80", "ab\x80"}
	for i := 0; i <= len(good); i++ {
		for j := i; j <= len(good); j++ {
			in := cat(cf(OpText, false, good[:i]), cf(OpContinuation, false, good[i:j]), cf(OpContinuation, true, good[j:]))
			o := feedWhole(t, server, in)
			if o.err != nil || len(o.events) != 1 || o.events[0].data != good {
				t.Fatalf("split %d/%d: %v", i, j, o)
			}
		}
	}
	for _, bad := range bads {
		for i := 0; i <= len(bad); i++ {
			in := cat(cf(OpText, false, bad[:i]), cf(OpContinuation, true, bad[i:]))
			if o := feedWhole(t, server, in); o.code != CloseInvalidPayload {
				t.Fatalf("%q split at %d: got %v, want 1007", bad, i, o)
			}
			if o := feedBytewise(t, server, in); o.code != CloseInvalidPayload {
				t.Fatalf("%q split at %d bytewise: got %v, want 1007", bad, i, o)
			}
		}
	}
}

func TestHandlerErrorReturnedAsIs(t *testing.T) {
	sentinel := errors.New("queue full")
	in := cat(cf(OpText, true, "one"), cf(OpText, true, "two"))
	var d tdec
	d.Init(server)
	r := &recorder{failMsg: sentinel}
	n, err := d.Feed(in, r)
	if err != sentinel {
		t.Fatalf("got %v, want the handler's error itself", err)
	}
	if first := len(cf(OpText, true, "one")); n != first {
		t.Fatalf("consumed %d, want %d (the delivered frame)", n, first)
	}
	// The decoder is still consistent: the caller may go on.
	r.failMsg = nil
	m, err := d.Feed(in[n:], r)
	if err != nil || m != len(in)-n || len(r.events) != 2 || r.events[1] != msg(OpText, "two") {
		t.Fatalf("after handler error: consumed %d, err %v, events %v", m, err, r.events)
	}
}

func TestStopAndReset(t *testing.T) {
	var d tdec
	d.Init(server)
	r := &recorder{}
	if _, err := d.Feed(cf(OpBinary, false, "part"), r); err != nil || d.asmBuf() == nil || !d.InMessage() {
		t.Fatalf("first fragment: err %v, buffer held %v", err, d.asmBuf() != nil)
	}
	d.Reset()
	if d.asmBuf() != nil || d.InMessage() || d.cfg != server {
		t.Fatal("Reset kept the assembly buffer or dropped the config")
	}
	if _, err := d.Feed(cf(OpText, true, "x"), r); err != nil {
		t.Fatalf("after Reset: %v", err)
	}
	if _, err := d.Feed(cat(cf(OpBinary, false, "p"), cf(OpClose, true, "")), r); err != nil || !d.Stopped() || d.asmBuf() != nil {
		t.Fatalf("close: err %v, stopped %v, buffer held %v", err, d.Stopped(), d.asmBuf() != nil)
	}
	if n, err := d.Feed(cf(OpText, true, "x"), r); n != 0 || err != ErrStopped {
		t.Fatalf("Feed after close: %d, %v", n, err)
	}
	d.Init(server)
	if _, err := d.Feed(sf(OpText, true, "x"), r); err == nil {
		t.Fatal("unmasked frame accepted")
	}
	if _, err := d.Feed(cf(OpText, true, "x"), r); err != ErrStopped {
		t.Fatalf("Feed after protocol error: %v", err)
	}
}

func TestTailChanged(t *testing.T) {
	frame := AppendClientFrame(nil, OpBinary, true, testMask, make([]byte, 100))
	var d tdec
	d.Init(server)
	if _, err := d.Feed(frame[:50], &recorder{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Feed(frame[:20], &recorder{}); err != ErrTailChanged {
		t.Fatalf("shorter tail: got %v", err)
	}
}

func TestErrorType(t *testing.T) {
	var d tdec
	d.Init(nil) // nil config: server side
	_, err := d.Feed(sf(OpText, true, "x"), &recorder{})
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CloseProtocolError || pe.Reason == "" || len(pe.Reason) > 123 {
		t.Fatalf("got %#v", err)
	}
	if !strings.Contains(err.Error(), "1002") {
		t.Fatalf("message %q lacks the code", err.Error())
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	single := cf(OpText, true, strings.Repeat("a", 100))
	frag := cat(cf(OpText, false, "ab"), cf(OpPing, true, "p"), cf(OpContinuation, true, "cd"))
	var d tdec
	d.Init(server)
	var h nopHandler
	for name, in := range map[string][]byte{"single": single, "fragmented": frag} {
		buf := slices.Clone(in)
		allocs := testing.AllocsPerRun(200, func() {
			copy(buf, in)
			if n, err := d.Feed(buf, &h); err != nil || n != len(buf) {
				t.Fatalf("%s: %d %v", name, n, err)
			}
		})
		if allocs != 0 {
			t.Fatalf("%s: %.1f allocs per Feed", name, allocs)
		}
	}
}

type nopHandler struct{ n int }

func (h *nopHandler) OnMessage(_ OpCode, p []byte) error { h.n += len(p); return nil }
func (h *nopHandler) OnPing(p []byte) error              { h.n += len(p); return nil }
func (h *nopHandler) OnPong(p []byte) error              { h.n += len(p); return nil }
func (h *nopHandler) OnClose(CloseCode, []byte) error    { return nil }
