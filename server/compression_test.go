package server

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/wsedge/wsedge/codec"
)

const (
	nct = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	pmd = "permessage-deflate"
)

// TestCompressionNegotiation: what a client offers and what the node
// answers, in each mode, on a real upgrade: every parameter alone and
// combined, malformed offers, several offers and header lines. An offer
// that cannot be taken is declined by leaving the extension out: always 101.
// Each agreement is then used: a compressed message the client sends comes
// back, compressed, through the echo.
func TestCompressionNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mode       codec.Mode
		windowBits uint8 // -compression-window-bits; 0: the default
		offers     []string
		want       string
	}{
		{"off ignores offers", codec.ModeOff, 0, []string{pmd + "; client_max_window_bits"}, ""},
		{"no offer", codec.ModeNoContextTakeover, 0, nil, ""},
		{"another extension only", codec.ModeNoContextTakeover, 0, []string{"x-webkit-deflate-frame"}, ""},

		{"nct: bare", codec.ModeNoContextTakeover, 0, []string{pmd}, nct},
		{"nct: browser offer", codec.ModeNoContextTakeover, 0, []string{pmd + "; client_max_window_bits"}, nct},
		{"nct: client_max_window_bits=10", codec.ModeNoContextTakeover, 0, []string{pmd + "; client_max_window_bits=10"}, nct},
		{"nct: server_no_context_takeover", codec.ModeNoContextTakeover, 0, []string{pmd + "; server_no_context_takeover"}, nct},
		{"nct: client_no_context_takeover", codec.ModeNoContextTakeover, 0, []string{pmd + "; client_no_context_takeover"}, nct},
		{"nct: server_max_window_bits=8 (autobahn 13.3)", codec.ModeNoContextTakeover, 0,
			[]string{pmd + "; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8"}, nct + "; server_max_window_bits=8"},
		{"nct: server_max_window_bits=15", codec.ModeNoContextTakeover, 0, []string{pmd + "; server_max_window_bits=15"}, nct + "; server_max_window_bits=15"},
		{"nct: every parameter", codec.ModeNoContextTakeover, 0,
			[]string{pmd + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"}, nct + "; server_max_window_bits=10"},
		{"nct: quoted value, odd case", codec.ModeNoContextTakeover, 0, []string{`Permessage-Deflate; Server_Max_Window_Bits="12"`}, nct + "; server_max_window_bits=12"},

		{"ct: bare", codec.ModeContextTakeover, 0, []string{pmd}, pmd},
		{"ct: browser offer, default window", codec.ModeContextTakeover, 0, []string{pmd + "; client_max_window_bits"}, pmd},
		{"ct: browser offer, -compression-window-bits 10", codec.ModeContextTakeover, 10, []string{pmd + "; client_max_window_bits"}, pmd + "; client_max_window_bits=10"},
		{"ct: client offers a smaller window", codec.ModeContextTakeover, 10, []string{pmd + "; client_max_window_bits=9"}, pmd + "; client_max_window_bits=9"},
		{"ct: window bits never answered unasked", codec.ModeContextTakeover, 10, []string{pmd}, pmd},
		{"ct: server_no_context_takeover", codec.ModeContextTakeover, 0, []string{pmd + "; server_no_context_takeover"}, pmd + "; server_no_context_takeover"},
		{"ct: client_no_context_takeover", codec.ModeContextTakeover, 0, []string{pmd + "; client_no_context_takeover"}, pmd + "; client_no_context_takeover"},
		{"ct: server_max_window_bits=8", codec.ModeContextTakeover, 0, []string{pmd + "; server_max_window_bits=8"}, pmd + "; server_max_window_bits=8"},
		{"ct: every parameter", codec.ModeContextTakeover, 12,
			[]string{pmd + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11"},
			nct + "; server_max_window_bits=9"},
		{"ct: both windows", codec.ModeContextTakeover, 12, []string{pmd + "; server_max_window_bits=11; client_max_window_bits=13"},
			pmd + "; server_max_window_bits=11; client_max_window_bits=12"},

		{"malformed: window without value", codec.ModeNoContextTakeover, 0, []string{pmd + "; server_max_window_bits"}, ""},
		{"malformed: window 7", codec.ModeNoContextTakeover, 0, []string{pmd + "; server_max_window_bits=7"}, ""},
		{"malformed: window 16", codec.ModeContextTakeover, 0, []string{pmd + "; client_max_window_bits=16"}, ""},
		{"malformed: leading zero", codec.ModeContextTakeover, 0, []string{pmd + "; server_max_window_bits=09"}, ""},
		{"malformed: unknown parameter", codec.ModeNoContextTakeover, 0, []string{pmd + "; mux"}, ""},
		{"malformed: repeated parameter", codec.ModeNoContextTakeover, 0, []string{pmd + "; client_no_context_takeover; client_no_context_takeover"}, ""},
		{"malformed: value on a flag", codec.ModeContextTakeover, 0, []string{pmd + "; server_no_context_takeover=1"}, ""},
		{"malformed: garbage", codec.ModeContextTakeover, 0, []string{`;;="`}, ""},

		{"several offers: first acceptable wins", codec.ModeContextTakeover, 0,
			[]string{pmd + "; server_max_window_bits=7, " + pmd + "; server_no_context_takeover, " + pmd}, pmd + "; server_no_context_takeover"},
		{"several offers (autobahn 13.7)", codec.ModeNoContextTakeover, 0,
			[]string{pmd + "; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8, " +
				pmd + "; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, " + pmd + "; client_no_context_takeover; client_max_window_bits"},
			nct + "; server_max_window_bits=8"},
		{"several lines: the first unacceptable", codec.ModeContextTakeover, 0,
			[]string{pmd + "; foo", "x-other, " + pmd + "; client_no_context_takeover"}, pmd + "; client_no_context_takeover"},
		{"several lines: the first wins", codec.ModeContextTakeover, 0,
			[]string{pmd + "; server_max_window_bits=10", pmd}, pmd + "; server_max_window_bits=10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := compressionOptions(tc.mode)
			if tc.windowBits != 0 {
				o.Compression.WindowBits = tc.windowBits
			}
			s := startServer(t, o)
			c, ext := zdial(t, s, "/echo", tc.offers...)
			if ext != tc.want {
				t.Fatalf("answer %q, want %q", ext, tc.want)
			}
			// Use it: two messages, the second repeating the first, so a
			// client keeping context refers back into the first.
			// 200 bytes: a client keeping context refers back at most 400
			// bytes, within the smallest window it may be held to (2^9).
			msg := jsonText(200, 1)
			z := zwriter{keep: tc.want != "" && !bytes.Contains([]byte(tc.want), []byte("client_no_context_takeover"))}
			for i := range 2 {
				if tc.want == "" {
					c.send(msgFrame(codec.OpText, true, string(msg)))
				} else {
					c.send(zFrame(codec.OpText, true, true, z.deflate(t, msg)))
				}
				m := c.readZ()
				if m.op != codec.OpText || !bytes.Equal(m.payload, msg) {
					t.Fatalf("message %d: echo %v of %d bytes, want the %d text bytes sent", i, m.op, len(m.payload), len(msg))
				}
				if m.compressed != (tc.want != "") {
					t.Fatalf("message %d: echo compressed %v with answer %q", i, m.compressed, tc.want)
				}
			}
		})
	}
}

// TestCompressionEcho: round trips through /echo in both modes with what
// real clients send: fragmented compressed messages (with control frames
// between the fragments), empty messages, data that does not compress,
// messages under -compression-min-size, text and binary; a client keeping
// context across all of it in context-takeover mode.
func TestCompressionEcho(t *testing.T) {
	for _, mode := range []codec.Mode{codec.ModeNoContextTakeover, codec.ModeContextTakeover} {
		t.Run(mode.String(), func(t *testing.T) {
			o := compressionOptions(mode)
			o.MaxMessageSize = 1 << 20
			s := startServer(t, o)
			c, ext := zdial(t, s, "/echo", pmd+"; client_max_window_bits")
			keep := mode == codec.ModeContextTakeover
			if (ext == nct) == keep || ext == "" {
				t.Fatalf("answer %q", ext)
			}
			z := zwriter{keep: keep}
			big := jsonText(200<<10, 2)
			steps := []struct {
				name         string
				op           codec.OpCode
				msg          []byte
				fragments    int  // 0: one frame; else compressed fragments
				pingBetween  bool // a ping between fragments
				plain        bool // sent without compression
				wantCompress bool // the echo comes back compressed
			}{
				{"json text", codec.OpText, jsonText(1024, 3), 0, false, false, true},
				{"json text again (context)", codec.OpText, jsonText(1024, 3), 0, false, false, true},
				{"binary", codec.OpBinary, bytes.Repeat([]byte{0, 1, 2, 3, 250}, 400), 0, false, false, true},
				{"fragmented text, 5 frames", codec.OpText, jsonText(5000, 4), 5, false, false, true},
				{"fragmented binary, ping between", codec.OpBinary, jsonText(3000, 5), 3, true, false, true},
				{"200 KiB text in 7 frames", codec.OpText, big, 7, true, false, true},
				{"empty compressed text", codec.OpText, []byte{}, 0, false, false, false},
				{"empty compressed binary, fragmented", codec.OpBinary, []byte{}, 2, false, false, false},
				{"incompressible binary", codec.OpBinary, noise(4096, 6), 0, false, false, false},
				{"under min size", codec.OpText, []byte(`{"type":"ping"}`), 0, false, false, false},
				{"plain message on a compressed connection", codec.OpText, jsonText(2048, 7), 0, false, true, true},
				{"json text after all that", codec.OpText, jsonText(1500, 8), 0, false, false, true},
			}
			for _, st := range steps {
				switch {
				case st.plain:
					c.send(msgFrame(st.op, true, string(st.msg)))
				case st.fragments == 0:
					c.send(zFrame(st.op, true, true, z.deflate(t, st.msg)))
				default:
					zp := z.deflate(t, st.msg)
					step := len(zp)/st.fragments + 1
					for i := range st.fragments {
						op := codec.OpContinuation
						if i == 0 {
							op = st.op
						}
						part := zp[min(i*step, len(zp)):min((i+1)*step, len(zp))]
						c.send(zFrame(op, i == st.fragments-1, i == 0, part))
						if st.pingBetween && i == 0 {
							c.send(msgFrame(codec.OpPing, true, "between"))
						}
					}
				}
				if st.pingBetween {
					b0, p := c.readFrame() // the pong comes first, plain
					if b0 != 0x80|byte(codec.OpPong) || string(p) != "between" {
						t.Fatalf("%s: first byte %#x payload %q, want a plain pong", st.name, b0, p)
					}
				}
				m := c.readZ()
				if m.op != st.op || !bytes.Equal(m.payload, st.msg) {
					t.Fatalf("%s: echo %v of %d bytes, want %v of %d", st.name, m.op, len(m.payload), st.op, len(st.msg))
				}
				if m.compressed != st.wantCompress {
					t.Fatalf("%s: echo compressed %v, want %v", st.name, m.compressed, st.wantCompress)
				}
				if m.compressed && m.wire >= len(st.msg) {
					t.Fatalf("%s: %d bytes compressed to %d", st.name, len(st.msg), m.wire)
				}
			}
			// The counters saw it: compressed in and out, and ratios above 1.
			mt := s.Metrics()
			waitFor(t, wsTimeout, "compression counters", func() bool {
				return counterValue(t, mt.CompressedMessages.WithLabelValues("out")) == 8
			})
			for _, dir := range []string{"in", "out"} {
				z, raw := counterValue(t, mt.CompressedBytes.WithLabelValues(dir)), counterValue(t, mt.UncompressedBytes.WithLabelValues(dir))
				if z == 0 || raw < 3*z {
					t.Errorf("%s: %v compressed bytes for %v uncompressed", dir, z, raw)
				}
			}
			// Compressed in: 11 messages (the plain one and nothing else aside).
			if got := counterValue(t, mt.CompressedMessages.WithLabelValues("in")); got != 11 {
				t.Errorf("compressed messages in: %v, want 11", got)
			}
			// Deflate ran for every echo of at least 128 bytes, the
			// incompressible one included: 9.
			if got := counterValue(t, mt.Compressions); got != 9 {
				t.Errorf("compressions: %v, want 9", got)
			}
		})
	}
}

// TestCompressionViolations: what a compressed connection gets for bad
// input, end to end: RSV1 without the extension (1002), RSV1 on a
// continuation or a control frame (1002), a small frame that inflates past
// -max-message-size (1009, without inflating the rest), a corrupt deflate
// stream (1007 text, 1002 binary), inflated text that is not UTF-8 (1007).
func TestCompressionViolations(t *testing.T) {
	bomb := zDeflate(t, make([]byte, 8<<20)) // 8 MiB of zeros in ~8 KiB
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb of %d bytes", len(bomb))
	}
	corrupt := append([]byte{0xff, 0xff, 0xff}, zDeflate(t, jsonText(500, 9))...)
	for _, mode := range []codec.Mode{codec.ModeOff, codec.ModeNoContextTakeover, codec.ModeContextTakeover} {
		for _, tc := range []struct {
			name   string
			offer  bool // offer the extension (else: none agreed)
			frames [][]byte
			code   codec.CloseCode
		}{
			{"RSV1 without the extension", false, [][]byte{zFrame(codec.OpText, true, true, zDeflate(t, []byte("hello")))}, codec.CloseProtocolError},
			{"RSV1 on a continuation", true, [][]byte{zFrame(codec.OpText, false, true, bomb[:10]), zFrame(codec.OpContinuation, true, true, bomb[10:20])}, codec.CloseProtocolError},
			{"RSV1 on a ping", true, [][]byte{zFrame(codec.OpPing, true, true, []byte("x"))}, codec.CloseProtocolError},
			{"bomb", true, [][]byte{zFrame(codec.OpBinary, true, true, bomb)}, codec.CloseTooBig},
			{"bomb in fragments", true, [][]byte{zFrame(codec.OpText, false, true, bomb[:len(bomb)/2]), zFrame(codec.OpContinuation, true, false, bomb[len(bomb)/2:])}, codec.CloseTooBig},
			{"corrupt text", true, [][]byte{zFrame(codec.OpText, true, true, corrupt)}, codec.CloseInvalidPayload},
			{"corrupt binary", true, [][]byte{zFrame(codec.OpBinary, true, true, corrupt)}, codec.CloseProtocolError},
			{"truncated binary", true, [][]byte{zFrame(codec.OpBinary, true, true, zDeflate(t, jsonText(5000, 10))[:100])}, codec.CloseProtocolError},
			{"inflated text not UTF-8", true, [][]byte{zFrame(codec.OpText, true, true, zDeflate(t, []byte("ok \xff\xfe bad")))}, codec.CloseInvalidPayload},
		} {
			if tc.offer && mode == codec.ModeOff {
				continue // nothing was agreed: each of these is RSV1 without the extension
			}
			t.Run(fmt.Sprintf("%s/%s", mode, tc.name), func(t *testing.T) {
				s := startServer(t, compressionOptions(mode))
				var offers []string
				if tc.offer {
					offers = []string{pmd}
				}
				c, ext := zdial(t, s, "/echo", offers...)
				if (ext != "") != tc.offer {
					t.Fatalf("answer %q", ext)
				}
				c.send(tc.frames...)
				c.expectClose(tc.code)
				// Another connection on the same node is unharmed.
				d, _ := zdial(t, s, "/echo", pmd)
				msg := jsonText(300, 11)
				d.send(msgFrame(codec.OpText, true, string(msg)))
				if m := d.readZ(); !bytes.Equal(m.payload, msg) {
					t.Fatal("the other connection's echo differs")
				}
			})
		}
	}
}
