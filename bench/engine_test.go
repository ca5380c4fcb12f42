package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/codec"
)

// capture is a codec.Handler that keeps the last message.
type capture struct {
	op  codec.OpCode
	msg []byte
}

func (c *capture) OnMessage(op codec.OpCode, p []byte) error {
	c.op, c.msg = op, append(c.msg[:0], p...)
	return nil
}
func (*capture) OnPing([]byte) error                   { return nil }
func (*capture) OnPong([]byte) error                   { return nil }
func (*capture) OnClose(codec.CloseCode, []byte) error { return nil }

// TestTemplateStamp checks that a stamped frame is a valid masked frame (a
// server-side decoder accepts it) and that the stamp reads back.
func TestTemplateStamp(t *testing.T) {
	text, _ := NewTextTemplate(`{"type":"publish","data":"@0000000000000000"}`)
	for _, tc := range []struct {
		name string
		tpl  func() (*Template, error)
	}{
		{"binary 8", func() (*Template, error) { return NewEchoTemplate(8, false) }},
		{"binary 4096", func() (*Template, error) { return NewEchoTemplate(4096, false) }},
		{"text 17", func() (*Template, error) { return NewEchoTemplate(17, true) }},
		{"text 70000", func() (*Template, error) { return NewEchoTemplate(70000, true) }},
		{"json publish", func() (*Template, error) { return text, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := tc.tpl()
			if err != nil {
				t.Fatal(err)
			}
			for _, ts := range []int64{0, 1, 123456789, 1<<62 + 5} {
				frame := tpl.appendTo(nil, ts)
				var d codec.Decoder
				d.Reset(nil)
				var h capture
				n, err := d.Feed(nil, frame, &h)
				if err != nil || n != len(frame) {
					t.Fatalf("decode: %d/%d %v", n, len(frame), err)
				}
				got, ok := parseStamp(h.op, h.msg)
				if !ok || got != ts {
					t.Fatalf("stamp %d read back as %d %v", ts, got, ok)
				}
			}
		})
	}
	if _, err := NewEchoTemplate(7, false); err == nil {
		t.Error("7-byte binary accepted")
	}
	if _, err := NewEchoTemplate(16, true); err == nil {
		t.Error("16-byte text accepted")
	}
	if _, err := NewTextTemplate(`{"data":"@123"}`); err == nil {
		t.Error("short stamp room accepted")
	}
}

func TestParseStamp(t *testing.T) {
	for _, tc := range []struct {
		op codec.OpCode
		p  string
		ok bool
	}{
		{codec.OpText, `{"type":"ack","id":"s"}`, false},
		{codec.OpText, `{"data":"@00000000000000ff"}`, true},
		{codec.OpText, `{"data":"@00000000000000fg"}`, false},
		{codec.OpText, `@0123`, false},
		{codec.OpBinary, "1234567", false},
		{codec.OpBinary, "12345678", true},
	} {
		if _, ok := parseStamp(tc.op, []byte(tc.p)); ok != tc.ok {
			t.Errorf("parseStamp(%q) ok = %v", tc.p, ok)
		}
	}
}

func TestParseTarget(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		url    string
		remote bool
		err    error
		bad    bool
	}{
		{url: "ws://127.0.0.1:8080/echo"},
		{url: "ws://localhost:8080/ws"},
		{url: "ws://127.0.0.5/echo"},
		{url: "ws://10.1.2.3:80/echo", err: ErrRemote},
		{url: "ws://192.0.2.1/echo", remote: true}, // allowed, never dialled here
		{url: "wss://127.0.0.1/echo"},
		{url: "http://127.0.0.1/echo", bad: true},
		{url: "ws://127.0.0.1:99999/", bad: true},
	} {
		tg, err := ParseTarget(ctx, tc.url, tc.remote)
		switch {
		case tc.err != nil:
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: want %v, got %v", tc.url, tc.err, err)
			}
		case tc.bad:
			if err == nil {
				t.Errorf("%s: accepted", tc.url)
			}
		default:
			if err != nil || tg.Path == "" || !tg.Addr.IsValid() || tg.TLS != strings.HasPrefix(tc.url, "wss:") {
				t.Errorf("%s: %+v %v", tc.url, tg, err)
			}
			if tg.TLS && (tg.Addr.Port() != 443 || tg.ServerName != "127.0.0.1") {
				t.Errorf("%s: port %d server name %q", tc.url, tg.Addr.Port(), tg.ServerName)
			}
		}
	}
}

// BenchmarkSend is the per-message send work: stamp a prebuilt frame into a
// connection's preallocated buffer.
func BenchmarkSend(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(FormatValue(float64(size), "B"), func(b *testing.B) {
			tpl, _ := NewEchoTemplate(size, false)
			out := make([]byte, 0, tpl.Len())
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for i := 0; b.Loop(); i++ {
				out = tpl.appendTo(out[:0], int64(i))
			}
		})
	}
}

// BenchmarkReceive is the per-message receive work of a connection: decode
// a server frame, read its stamp, record the latency, count a send owed.
func BenchmarkReceive(b *testing.B) {
	e := &Engine{cfg: EngineConfig{Depth: 1}}
	e.record.Store(true)
	l := &loop{e: e, lat: NewHistogram(), sendOn: true, now: 1 << 40}
	c := &conn{l: l}
	c.dec.Reset(&clientCodec)
	payload := make([]byte, 64)
	frame := codec.AppendFrame(nil, codec.OpBinary, true, payload)
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		binary.LittleEndian.PutUint64(frame[2:], uint64(l.now-1000-i%100000)) // 1-101 µs ago
		if _, err := c.dec.Feed(&clientCodec, frame, c); err != nil {
			b.Fatal(err)
		}
		c.owed = 0
	}
}

// BenchmarkReceiveCompressed is BenchmarkReceive for a permessage-deflate
// connection: pre-scan, decode, inflate a 1 KiB JSON message, read its
// stamp. Inflating reuses the loop's decompressor and buffers.
func BenchmarkReceiveCompressed(b *testing.B) {
	e := &Engine{cfg: EngineConfig{Depth: 1}}
	e.record.Store(true)
	l := &loop{e: e, lat: NewHistogram(), sendOn: true, now: 1 << 40}
	c := &conn{l: l, deflate: &deflateConn{params: deflateParams{serverNoContext: true, serverWindow: 1 << 15}}}
	c.dec.Reset(&clientCodec)
	tpl, err := NewJSONTemplate(1024)
	if err != nil {
		b.Fatal(err)
	}
	z, at, err := compressTemplate(tpl.payload, tpl.at, minText, 1)
	if err != nil {
		b.Fatal(err)
	}
	frame := codec.AppendFrame(nil, codec.OpText, true, z)
	frame[0] |= 0x40
	buf := make([]byte, len(frame))
	b.SetBytes(int64(len(tpl.payload)))
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		ts := l.now - 1000 - i%100000
		copy(buf, frame)
		for k := 0; k < 16; k++ {
			buf[len(frame)-len(z)+at+1+k] = "0123456789abcdef"[(ts>>(60-4*k))&0xf]
		}
		if err := c.deflate.scan(buf); err != nil {
			b.Fatal(err)
		}
		n, err := c.dec.Feed(&clientCodec, buf, c)
		if err != nil || n != len(buf) {
			b.Fatal(n, err)
		}
		c.deflate.consumed(n)
		c.owed = 0
	}
	if l.timed.Load() == 0 {
		b.Fatal("no stamp read back")
	}
}
