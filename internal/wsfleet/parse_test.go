package wsfleet

import (
	"bytes"
	"testing"

	"github.com/wsedge/wsedge/codec"
)

func TestFrame(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 300)
	huge := bytes.Repeat([]byte("y"), 70000)
	for _, tc := range []struct {
		name string
		in   []byte
		op   byte
		p    []byte
		size int
	}{
		{"empty", nil, 0, nil, 0},
		{"one byte", []byte{0x81}, 0, nil, 0},
		{"small text", codec.AppendFrame(nil, codec.OpText, true, []byte("hi")), 1, []byte("hi"), 4},
		{"text and more", append(codec.AppendFrame(nil, codec.OpText, true, []byte("hi")), 0x89), 1, []byte("hi"), 4},
		{"16-bit length", codec.AppendFrame(nil, codec.OpBinary, true, big), 2, big, 304},
		{"16-bit length, short", codec.AppendFrame(nil, codec.OpBinary, true, big)[:200], 0, nil, 0},
		{"64-bit length", codec.AppendFrame(nil, codec.OpText, true, huge), 1, huge, 70010},
		{"64-bit length, header cut", codec.AppendFrame(nil, codec.OpText, true, huge)[:6], 0, nil, 0},
		{"64-bit length past any buffer", []byte{0x81, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1}, 0, nil, 0},
		{"close 1012", codec.AppendClose(nil, 1012, "bye"), 8, []byte{0x03, 0xf4, 'b', 'y', 'e'}, 7},
		{"masked, key cut", []byte{0x81, 0x82, 1, 2}, 0, nil, 0},
	} {
		op, p, size := frame(tc.in)
		if op != tc.op || !bytes.Equal(p, tc.p) || size != tc.size {
			t.Errorf("%s: got op %d, %d payload bytes, size %d; want %d, %d, %d", tc.name, op, len(p), size, tc.op, len(tc.p), tc.size)
		}
	}
}

func TestChannelNumber(t *testing.T) {
	for _, tc := range []struct {
		in string
		n  int
		ok bool
	}{
		{`{"type":"message","channel":"news","data":42}`, 42, true},
		{`{"type":"message","channel":"news","data":0}`, 0, true},
		{`{"type":"message","channel":"news","data":{"n":1}}`, 0, false},
		{`{"type":"ack","id":"s"}`, 0, false},
		{`{"type":"message","channel":"a"}`, 0, false},
	} {
		if n, ok := channelNumber([]byte(tc.in)); n != tc.n || ok != tc.ok {
			t.Errorf("%s: %d %v, want %d %v", tc.in, n, ok, tc.n, tc.ok)
		}
	}
}

// FuzzFrame: any bytes give either no frame or a frame within the input.
func FuzzFrame(f *testing.F) {
	f.Add(codec.AppendFrame(nil, codec.OpText, true, []byte("hello")))
	f.Add([]byte{0x81, 126, 0x01})
	f.Add([]byte{0x88, 127, 0, 0, 0, 0, 0, 0, 0, 2, 3, 0xe8})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, p, size := frame(b)
		if size < 0 || size > len(b) || len(p) > size {
			t.Fatalf("size %d, payload %d of %d bytes", size, len(p), len(b))
		}
		channelNumber(b)
	})
}
