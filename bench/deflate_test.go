package bench

import (
	"bytes"
	stdflate "compress/flate"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/codec"
)

func TestParseDeflateAnswer(t *testing.T) {
	bare := DefaultDeflateOffer
	strict := "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	for _, tc := range []struct {
		answer, offer string
		ok, bad       bool
		want          deflateParams
	}{
		{answer: "", offer: bare},
		{answer: "permessage-deflate", offer: bare, ok: true, want: deflateParams{serverWindow: 1 << 15}},
		{answer: "permessage-deflate; server_no_context_takeover; client_no_context_takeover", offer: strict, ok: true,
			want: deflateParams{serverNoContext: true, serverWindow: 1 << 15}},
		{answer: "permessage-deflate;server_max_window_bits=10", offer: bare, ok: true, want: deflateParams{serverWindow: 1 << 10}},
		{answer: `permessage-deflate; server_max_window_bits="9"`, offer: bare, ok: true, want: deflateParams{serverWindow: 1 << 9}},
		{answer: "permessage-deflate; client_max_window_bits=12", offer: bare, ok: true, want: deflateParams{serverWindow: 1 << 15}},
		{answer: "permessage-deflate; client_max_window_bits=12", offer: strict, bad: true}, // not offered
		{answer: "permessage-deflate; server_max_window_bits=16", offer: bare, bad: true},
		{answer: "permessage-deflate; server_max_window_bits", offer: bare, bad: true},
		{answer: "permessage-deflate; server_no_context_takeover=1", offer: bare, bad: true},
		{answer: "permessage-deflate; server_no_context_takeover; server_no_context_takeover", offer: bare, bad: true},
		{answer: "permessage-deflate; x_foo", offer: bare, bad: true},
		{answer: "x-webkit-deflate-frame", offer: bare, bad: true},
		{answer: "permessage-deflate, permessage-deflate", offer: bare, bad: true},
	} {
		got, ok, err := parseDeflateAnswer(tc.answer, tc.offer)
		if (err != nil) != tc.bad || ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%q: got %+v %v %v", tc.answer, got, ok, err)
		}
	}
}

func FuzzParseDeflateAnswer(f *testing.F) {
	f.Add("permessage-deflate; server_no_context_takeover; client_max_window_bits=10")
	f.Add(`permessage-deflate; server_max_window_bits="15"`)
	f.Add("permessage-deflate;;=;")
	f.Fuzz(func(t *testing.T, answer string) {
		p, ok, err := parseDeflateAnswer(answer, DefaultDeflateOffer)
		if ok && (err != nil || p.serverWindow < 1<<8 || p.serverWindow > 1<<15) {
			t.Fatalf("accepted %q as %+v (%v)", answer, p, err)
		}
	})
}

// serverFrames is a stream of server frames: a compressed text message, a
// ping, a plain binary message, a compressed binary message in 3 fragments
// with a pong between them, and a compressed text message of big bytes
// (70000: a 64-bit length).
func serverFrames(big int) ([]byte, []msgStart) {
	var b []byte
	set := func(from int) { b[from] |= 0x40 }
	at := len(b)
	b = codec.AppendFrame(b, codec.OpText, true, []byte("deflate-data"))
	set(at)
	b = codec.AppendFrame(b, codec.OpPing, true, []byte("p"))
	b = codec.AppendFrame(b, codec.OpBinary, true, []byte{1, 2, 3})
	at = len(b)
	b = codec.AppendFrame(b, codec.OpBinary, false, []byte{9, 9})
	set(at)
	b = codec.AppendFrame(b, codec.OpContinuation, false, []byte{8})
	b = codec.AppendFrame(b, codec.OpPong, true, nil)
	b = codec.AppendFrame(b, codec.OpContinuation, true, []byte{7, 7, 7})
	at = len(b)
	b = codec.AppendFrame(b, codec.OpText, true, bytes.Repeat([]byte{0xff}, big)) // not UTF-8: deflate data
	set(at)
	return b, []msgStart{{op: 1, compressed: true}, {op: 2}, {op: 2, compressed: true}, {op: 1, compressed: true}}
}

// scanFeed runs the pre-scan and the codec over stream, split into reads
// of step bytes, the way readOnce does, and returns the messages as the
// connection sees them (real opcode, compressed or not, payload).
func scanFeed(t testing.TB, stream []byte, step int) ([]msgStart, [][]byte) {
	d := &deflateConn{}
	var dec codec.Decoder
	dec.Reset(&clientCodec)
	h := &collect{d: d}
	var tail []byte
	for off := 0; off < len(stream); off += step {
		data := append(tail, stream[off:min(off+step, len(stream))]...)
		if err := d.scan(data); err != nil {
			t.Fatal(err)
		}
		n, err := dec.Feed(&clientCodec, data, h)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		d.consumed(n)
		tail = append([]byte(nil), data[n:]...)
	}
	return h.starts, h.msgs
}

type collect struct {
	d      *deflateConn
	starts []msgStart
	msgs   [][]byte
}

func (c *collect) OnMessage(op codec.OpCode, p []byte) error {
	m, _ := c.d.next()
	c.starts = append(c.starts, m)
	c.msgs = append(c.msgs, append([]byte(nil), p...))
	return nil
}
func (*collect) OnPing([]byte) error                   { return nil }
func (*collect) OnPong([]byte) error                   { return nil }
func (*collect) OnClose(codec.CloseCode, []byte) error { return nil }

// TestDeflateScan: however the stream is split, each message start is
// queued once with its real opcode, and the codec (which knows no RSV1)
// delivers every message intact.
func TestDeflateScan(t *testing.T) {
	small, want := serverFrames(300)
	large, _ := serverFrames(70000)
	for _, tc := range []struct {
		stream []byte
		step   int
	}{{small, 1}, {small, 2}, {small, 3}, {small, 7}, {large, 100}, {large, 4096}, {large, len(large)}} {
		step := tc.step
		starts, msgs := scanFeed(t, tc.stream, step)
		if len(starts) != len(want) {
			t.Fatalf("step %d: %d messages, want %d", step, len(starts), len(want))
		}
		for i := range want {
			if starts[i] != want[i] {
				t.Fatalf("step %d: message %d start %+v, want %+v", step, i, starts[i], want[i])
			}
		}
		if string(msgs[0]) != "deflate-data" || !bytes.Equal(msgs[2], []byte{9, 9, 8, 7, 7, 7}) || len(msgs[3]) < 300 {
			t.Fatalf("step %d: messages %q", step, msgs[:3])
		}
	}
	d := &deflateConn{}
	bad := codec.AppendFrame(nil, codec.OpPing, true, nil)
	bad[0] |= 0x40
	if d.scan(bad) == nil {
		t.Fatal("RSV1 on a ping accepted")
	}
}

func FuzzDeflateScan(f *testing.F) {
	stream, _ := serverFrames(300)
	f.Add(stream, 3)
	f.Add([]byte{0xc1, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1)
	f.Fuzz(func(t *testing.T, b []byte, step int) {
		if step <= 0 || step > len(b) {
			step = len(b) + 1
		}
		// Scanning in pieces rewrites the same bytes as scanning at once.
		whole := append([]byte(nil), b...)
		d1 := &deflateConn{}
		err1 := d1.scan(whole)
		split := append([]byte(nil), b...)
		d2 := &deflateConn{}
		var err2 error
		for end := step; err2 == nil; end += step {
			err2 = d2.scan(split[:min(end, len(split))])
			if end >= len(split) {
				break
			}
		}
		if (err1 == nil) != (err2 == nil) || (err1 == nil && (!bytes.Equal(whole, split) || len(d1.ops) != len(d2.ops))) {
			t.Fatalf("whole %x (%v) vs split %x (%v)", whole, err1, split, err2)
		}
	})
}

// TestCompressTemplate: a compressed template inflates (with the standard
// library, an independent inflater) to the original payload with the
// stamp patched in, and reads back the stamp.
func TestCompressTemplate(t *testing.T) {
	js, err := NewJSONTemplate(1024)
	if err != nil {
		t.Fatal(err)
	}
	if len(js.payload) != 1024 || !json.Valid(js.payload) {
		t.Fatalf("json template: %d bytes, valid %v", len(js.payload), json.Valid(js.payload))
	}
	bin, _ := NewEchoTemplate(4096, false)
	txt, _ := NewEchoTemplate(64, true)
	pub, _ := NewTextTemplate(`{"type":"publish","channel":"c","data":"@0000000000000000"}`)
	for name, tpl := range map[string]*Template{"json": js, "binary": bin, "text": txt, "stamp last": pub} {
		z, err := tpl.Compressed(1)
		if err != nil {
			t.Fatal(err)
		}
		if z.frame[0]&0x40 == 0 {
			t.Fatalf("%s: RSV1 not set", name)
		}
		frame := z.appendTo(nil, 0x0123456789abcdef)
		zp := unmask(frame)
		plain, err := io.ReadAll(stdflate.NewReader(io.MultiReader(bytes.NewReader(zp), bytes.NewReader(deflateTail))))
		if err != nil && err != io.ErrUnexpectedEOF {
			t.Fatalf("%s: inflate: %v", name, err)
		}
		want := tpl.appendTo(nil, 0x0123456789abcdef)
		if !bytes.Equal(plain, unmask(want)) {
			t.Fatalf("%s: inflated %d bytes differ from the plain message (%d)", name, len(plain), len(tpl.payload))
		}
		if (name == "json" || name == "binary") && len(zp) >= len(tpl.payload)/2 {
			t.Errorf("%s: %d bytes compressed to %d", name, len(tpl.payload), len(zp))
		}
	}
}

// unmask returns the payload of one masked client frame.
func unmask(frame []byte) []byte {
	n, hl := int(frame[1]&0x7f), 2
	switch n {
	case 126:
		n, hl = int(frame[2])<<8|int(frame[3]), 4
	case 127:
		n, hl = 0, 10
		for _, c := range frame[2:10] {
			n = n<<8 | int(c)
		}
	}
	key := frame[hl : hl+4]
	p := append([]byte(nil), frame[hl+4:hl+4+n]...)
	for i := range p {
		p[i] ^= key[i%4]
	}
	return p
}

// Servers with compression, independent implementations: gorilla (no
// context takeover only) and coder/websocket (context takeover).
func gorillaDeflate(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, EnableCompression: true}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		op, m, err := c.ReadMessage()
		if err != nil || c.WriteMessage(op, m) != nil {
			return
		}
	}
}

func coderDeflate(w http.ResponseWriter, r *http.Request) {
	c, err := coder.Accept(w, r, &coder.AcceptOptions{InsecureSkipVerify: true, CompressionMode: coder.CompressionContextTakeover})
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	ctx := context.Background()
	for {
		typ, m, err := c.Read(ctx)
		if err != nil || c.Write(ctx, typ, m) != nil {
			return
		}
	}
}

func TestEchoCompressed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		h       http.HandlerFunc
		json    bool
		size    int
		smaller bool // the replies are compressed: fewer bytes on the wire
	}{
		{"gorilla json 1k", gorillaDeflate, true, 1024, true},
		{"gorilla binary 64", gorillaDeflate, false, 64, false},
		{"coder context takeover json 4k", coderDeflate, true, 4096, true},
		{"coder context takeover binary 4k", coderDeflate, false, 4096, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := startServer(t, "/echo", tc.h)
			r, err := Echo(t.Context(), EchoConfig{
				Common: Common{Target: tg, Compression: DefaultDeflateOffer},
				Conns:  4, Size: tc.size, JSON: tc.json, Depth: 2, Duration: time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Msgs == 0 || r.Latency.Count != r.Msgs || r.Failed+r.Dropped != 0 || r.Wire.Compressed != 4 {
				t.Fatalf("msgs %d timed %d failed %d dropped %d compressed %d causes %v", r.Msgs, r.Latency.Count, r.Failed, r.Dropped, r.Wire.Compressed, r.Causes)
			}
			if r.Wire.Payload != float64(tc.size) || (tc.smaller && !(r.Wire.RxPerMsg < float64(tc.size)/2 && r.Wire.TxPerMsg < float64(tc.size)/2)) {
				t.Fatalf("wire %+v for %d-byte messages", r.Wire, tc.size)
			}
		})
	}
	// A server without compression declines: plain messages, nothing compressed.
	tg := startServer(t, "/echo", echoHandler)
	r, err := Echo(t.Context(), EchoConfig{Common: Common{Target: tg, Compression: DefaultDeflateOffer}, Conns: 2, Size: 64, Depth: 1, Duration: time.Second})
	if err != nil || r.Msgs == 0 || r.Wire.Compressed != 0 || r.Wire.RxPerMsg != 66 {
		t.Fatalf("declined: %+v %v", r.Wire, err)
	}
}
