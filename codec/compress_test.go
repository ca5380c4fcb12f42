package codec

import (
	"bytes"
	"testing"
)

func encodePayloads() map[string][]byte {
	return map[string][]byte{
		"json 1 KiB":        jsonMessages(1, 1024, 11)[0],
		"json 100 KiB":      bytes.Join(jsonMessages(100, 1024, 12), []byte("\n")),
		"repeated 70000":    bytes.Repeat([]byte("wsedge "), 10000),
		"random 5000":       randomBytes(5000, 13),
		"short 20":          []byte("short but repetitive"),
		"empty":             {},
		"just over 128":     bytes.Repeat([]byte("a"), 129),
		"just under 128":    bytes.Repeat([]byte("a"), 127),
		"long-range repeat": append(append(randomBytes(20000, 14), randomBytes(300, 15)...), randomBytes(20000, 14)...),
	}
}

// TestAppendMessageRoundTrip: whatever AppendMessage sends, at every level
// and window size, the standard library inflates back to the payload, and
// it compresses exactly when the payload is long enough and shrinks.
func TestAppendMessageRoundTrip(t *testing.T) {
	for name, pl := range encodePayloads() {
		shrinks := len(stdDeflate(t, 1, pl)) < len(pl)*3/4
		for level := 1; level <= 9; level++ {
			for bits := uint8(8); bits <= 15; bits++ {
				if level > 1 && bits < 15 {
					continue // window-limited writers ignore the level
				}
				if raceEnabled && level%4 != 1 {
					continue // levels 1, 5, 9: the rest is slow under the race detector for nothing new
				}
				c := &Deflate{Mode: ModeNoContextTakeover, Level: level, MinSize: DefaultCompressionMinSize}
				p := pNCT
				p.ServerMaxWindowBits = bits
				prefix := []byte("queued")
				out, compressed := c.AppendMessage(bytes.Clone(prefix), p, OpText, pl)
				if !bytes.HasPrefix(out, prefix) {
					t.Fatalf("%s: dst overwritten", name)
				}
				b0, payload, size := readServerFrame(t, out[len(prefix):])
				if size != len(out)-len(prefix) || b0&0x0F != byte(OpText) || b0&bitFin == 0 {
					t.Fatalf("%s: frame %x..., %d of %d bytes", name, b0, size, len(out)-len(prefix))
				}
				if compressed != (b0&bitRSV1 != 0) {
					t.Fatalf("%s: reported compressed=%v, RSV1=%v", name, compressed, b0&bitRSV1 != 0)
				}
				got := payload
				if compressed {
					var err error
					if got, err = stdInflate(payload); err != nil {
						t.Fatalf("%s level %d bits %d: standard library: %v", name, level, bits, err)
					}
					if len(payload) >= len(pl) {
						t.Fatalf("%s: compressed to %d bytes, not smaller than %d", name, len(payload), len(pl))
					}
				}
				if !bytes.Equal(got, pl) {
					t.Fatalf("%s level %d bits %d: payload differs", name, level, bits)
				}
				if want := len(pl) >= 128 && shrinks; want && !compressed {
					t.Fatalf("%s level %d bits %d: sent plain", name, level, bits)
				}
				if len(pl) < 128 && compressed {
					t.Fatalf("%s: %d bytes compressed under MinSize", name, len(pl))
				}
			}
		}
	}
}

// TestAppendMessageOff: without the extension the frame is plain whatever
// the payload.
func TestAppendMessageOff(t *testing.T) {
	pl := bytes.Repeat([]byte("x"), 4096)
	for _, tc := range []struct {
		c *Deflate
		p Params
	}{{deflateNCT, Params{}}, {deflateOff, pNCT}} {
		out, compressed := tc.c.AppendMessage(nil, tc.p, OpBinary, pl)
		if compressed || !bytes.Equal(out, AppendFrame(nil, OpBinary, true, pl)) {
			t.Fatalf("%+v %+v: compressed %v", tc.c, tc.p, compressed)
		}
	}
}

// TestAppendCompressedShared: the shareable frame, inflated by the
// standard library and by a client Decoder; dst is appended to, not
// overwritten; incompressible payloads are left to the plain frame.
func TestAppendCompressedShared(t *testing.T) {
	pl := jsonMessages(1, 4096, 21)[0]
	out, ok := AppendCompressed([]byte{1, 2, 3}, OpText, pl, 1)
	if !ok || !bytes.Equal(out[:3], []byte{1, 2, 3}) {
		t.Fatalf("ok %v, prefix %x", ok, out[:3])
	}
	b0, payload, _ := readServerFrame(t, out[3:])
	if got, err := stdInflate(payload); err != nil || !bytes.Equal(got, pl) || b0 != bitFin|bitRSV1|byte(OpText) {
		t.Fatalf("b0 %x, %v", b0, err)
	}
	for _, p := range []Params{pNCT, pCT, {ServerMaxWindowBits: 15, ClientMaxWindowBits: 9}} {
		o := feedSplitP(t, client, p, bytes.Clone(out[3:]), func(n int) int { return n })
		if o.err != nil || len(o.events) != 1 || o.events[0].data != string(pl) {
			t.Fatalf("client decoder with %+v: %v", p, o)
		}
	}
	if out, ok := AppendCompressed([]byte{9}, OpBinary, randomBytes(1000, 22), 1); ok || len(out) != 1 {
		t.Fatalf("random payload: ok %v, %d bytes", ok, len(out))
	}
	// Shares: a 32 KiB-window frame suits small windows only when the
	// payload fits in them.
	small := Params{ServerMaxWindowBits: 10, ClientMaxWindowBits: 15}
	if !pNCT.Shares(1<<20) || !small.Shares(1024) || small.Shares(1025) || (Params{}).Shares(1) {
		t.Fatal("Shares")
	}
}

// TestAppendClientMessage: a masked compressed frame, as a load client
// sends it, decoded by the server side, honouring client_max_window_bits.
func TestAppendClientMessage(t *testing.T) {
	msgs := jsonMessages(20, 2000, 23)
	c := &Deflate{Mode: ModeContextTakeover}
	for _, bits := range []uint8{9, 15} {
		p := Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: bits}
		var in []byte
		var want []event
		for _, m := range msgs {
			var ok bool
			if in, ok = c.AppendClientMessage(in, p, OpText, testMask, m); !ok {
				t.Fatal("not compressed")
			}
			want = append(want, msg(OpText, string(m)))
		}
		if o := feedSplitP(t, server, p, in, splitter(uint64(bits))); !sameOutcome(o, outcome{events: want}) {
			t.Fatalf("bits %d: %v", bits, o)
		}
	}
	out, ok := c.AppendClientMessage(nil, pNCT, OpText, testMask, []byte("tiny"))
	if ok || !bytes.Equal(out, cf(OpText, true, "tiny")) {
		t.Fatal("a short message was not sent plain")
	}
}

func TestEncodeNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	pl := jsonMessages(1, 1024, 24)[0]
	dst := make([]byte, 0, 4096)
	for _, bits := range []uint8{15, 10} {
		p := pNCT
		p.ServerMaxWindowBits = bits
		deflateNCT.AppendMessage(dst, p, OpText, pl) // warm the pool
		allocs := testing.AllocsPerRun(100, func() {
			if _, ok := deflateNCT.AppendMessage(dst[:0], p, OpText, pl); !ok {
				t.Fatal("not compressed")
			}
		})
		if allocs != 0 {
			t.Fatalf("bits %d: %.1f allocations per compressed message", bits, allocs)
		}
	}
}

func TestInflateNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	msgs := jsonMessages(2, 1024, 25)
	for _, p := range []Params{pNCT, pCT} {
		var d tdec
		d.Init(server)
		d.SetDeflate(p)
		var h nopHandler
		frame := zf(OpText, true, true, appendDeflate(nil, msgs[0], 1, 15))
		frag := splitFragments(OpText, appendDeflate(nil, msgs[1], 1, 15), 3)
		buf := make([]byte, len(frame)+len(frag))
		for range 3 { // warm: pools, and the window's full size
			copy(buf, cat(frame, frag))
			if _, err := d.Feed(buf, &h); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(100, func() {
			copy(buf, frame)
			copy(buf[len(frame):], frag)
			if n, err := d.Feed(buf, &h); err != nil || n != len(buf) {
				t.Fatalf("%d %v", n, err)
			}
		})
		if allocs != 0 {
			t.Fatalf("%+v: %.1f allocations per Feed of two compressed messages", p, allocs)
		}
	}
}

func TestAppendShared(t *testing.T) {
	pl := jsonMessages(1, 600, 26)[0]
	c := &Deflate{Mode: ModeNoContextTakeover, Level: 6, MinSize: len(pl)}
	got, ok := c.AppendShared(nil, OpText, pl)
	want, _ := AppendCompressed(nil, OpText, pl, 6)
	if !ok || !bytes.Equal(got, want) {
		t.Fatal("AppendShared differs from AppendCompressed at the configured level")
	}
	c.MinSize = len(pl) + 1
	if out, ok := c.AppendShared([]byte{7}, OpText, pl); ok || len(out) != 1 {
		t.Fatal("a payload under MinSize was compressed")
	}
	if _, ok := deflateOff.AppendShared(nil, OpText, pl); ok {
		t.Fatal("compressed with compression off")
	}
}

// TestHandMadeParams: window bits left at 0 in a Params built by hand
// mean 15, never a tiny window.
func TestHandMadeParams(t *testing.T) {
	p := Params{ServerMaxWindowBits: 15} // ClientMaxWindowBits 0
	a, b := randomBytes(2000, 27), randomBytes(100, 28)
	zs := stdDeflateStream(t, 6, a, append(bytes.Clone(b), a...)) // refers 2100 bytes back
	in := cat(zf(OpBinary, true, true, zs[0]), zf(OpBinary, true, true, zs[1]))
	if o := feedSplitP(t, server, p, in, func(n int) int { return n }); o.err != nil || len(o.events) != 2 {
		t.Fatalf("decoder: %v", o)
	}
	pl := bytes.Repeat(append(bytes.Clone(a), b...), 3)
	got, _ := deflateCT.AppendClientMessage(nil, p, OpBinary, testMask, pl)
	full, _ := deflateCT.AppendClientMessage(nil, pCT, OpBinary, testMask, pl)
	if !bytes.Equal(got, full) {
		t.Fatal("client encoder used a small window for ClientMaxWindowBits 0")
	}
}
