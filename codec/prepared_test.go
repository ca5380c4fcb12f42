package codec

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"unsafe"
)

// decodeServerFrame parses one unmasked server frame and returns its opcode,
// FIN bit and payload; it fails the test unless b is exactly one frame.
func decodeServerFrame(t *testing.T, b []byte) (OpCode, bool, []byte) {
	t.Helper()
	if len(b) < 2 || b[1]&bitMask != 0 {
		t.Fatalf("not an unmasked frame: % x", b[:min(len(b), 12)])
	}
	n, h := int(b[1]&0x7f), 2
	switch n {
	case 126:
		n, h = int(b[2])<<8|int(b[3]), 4
	case 127:
		n, h = 0, 10
		for _, c := range b[2:10] {
			n = n<<8 | int(c)
		}
	}
	if h != HeaderSize(n, false) {
		t.Fatalf("length %d not in its shortest form (header %d bytes)", n, h)
	}
	if len(b) != h+n {
		t.Fatalf("frame of %d bytes announces %d payload bytes after a %d-byte header", len(b), n, h)
	}
	return OpCode(b[0] & 0x0f), b[0]&bitFin != 0, b[h:]
}

func TestPreparedFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 0xFFFF, 0x10000, 200000} {
		payload := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
		for _, tc := range []struct {
			name    string
			make    func() (*Prepared, []byte) // the Prepared and the buffer that may be framed in place
			inPlace bool
		}{
			{"copy", func() (*Prepared, []byte) { return NewPrepared(OpText, payload), nil }, false},
			{"room", func() (*Prepared, []byte) {
				buf := append(PreparedBuffer(n), payload...)
				return NewPreparedRoom(OpText, buf, MaxHeaderSize), buf
			}, true},
			{"exact room", func() (*Prepared, []byte) {
				h := HeaderSize(n, false)
				buf := append(make([]byte, h, h+n), payload...)
				return NewPreparedRoom(OpBinary, buf, h), buf
			}, true},
			{"too little room", func() (*Prepared, []byte) {
				h := HeaderSize(n, false) - 1
				buf := append(make([]byte, h, h+n), payload...)
				return NewPreparedRoom(OpText, buf, h), buf
			}, false},
		} {
			t.Run(fmt.Sprintf("%d/%s", n, tc.name), func(t *testing.T) {
				p, buf := tc.make()
				if p.FrameSize() != FrameSize(n) {
					t.Fatalf("FrameSize %d, want %d", p.FrameSize(), FrameSize(n))
				}
				f := p.Frame()
				op, fin, got := decodeServerFrame(t, f)
				if op != p.Op() || !fin || !bytes.Equal(got, payload) || !bytes.Equal(p.Payload(), payload) {
					t.Fatalf("frame op %v fin %v payload %d bytes, want op %v, %d bytes", op, fin, len(got), p.Op(), n)
				}
				if len(f) != p.FrameSize() {
					t.Fatalf("frame is %d bytes, FrameSize says %d", len(f), p.FrameSize())
				}
				// In place, the frame ends where the buffer ends.
				end := uintptr(unsafe.Pointer(unsafe.SliceData(f))) + uintptr(len(f))
				shared := buf != nil && end == uintptr(unsafe.Pointer(unsafe.SliceData(buf)))+uintptr(len(buf))
				if shared != tc.inPlace {
					t.Fatalf("frame written in place: %v, want %v", shared, tc.inPlace)
				}
				if g := p.Frame(); unsafe.SliceData(g) != unsafe.SliceData(f) || len(g) != len(f) {
					t.Fatal("a second Frame call encoded again")
				}
			})
		}
	}
}

// Many connections ask for the frame at once: it is encoded once and all of
// them get the same bytes, while others read the payload (go test -race).
func TestPreparedConcurrent(t *testing.T) {
	payload := []byte(`{"type":"message","channel":"c","data":1}`)
	buf := append(PreparedBuffer(len(payload)), payload...)
	p := NewPreparedRoom(OpText, buf, MaxHeaderSize)
	const n = 16
	frames := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_ = bytes.Equal(p.Payload(), payload)
			}
			frames[i] = p.Frame()
		}()
	}
	wg.Wait()
	for i := range frames {
		if unsafe.SliceData(frames[i]) != unsafe.SliceData(frames[0]) {
			t.Fatalf("caller %d got another copy of the frame", i)
		}
	}
	if _, _, got := decodeServerFrame(t, frames[0]); !bytes.Equal(got, payload) {
		t.Fatalf("payload %q", got)
	}
}

func TestPreparedRoomOutOfRange(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("an offset past the buffer was accepted")
		}
	}()
	NewPreparedRoom(OpText, make([]byte, 4), 5)
}

// BenchmarkPrepared is the per-publish cost: build the payload into a
// prepared buffer, frame it once, and hand the frame to 100 connections.
func BenchmarkPrepared(b *testing.B) {
	payload := []byte(`{"type":"message","channel":"room:1","data":{"price":101.5,"sym":"ABC"}}`)
	b.ReportAllocs()
	for b.Loop() {
		buf := append(PreparedBuffer(len(payload)), payload...)
		p := NewPreparedRoom(OpText, buf, MaxHeaderSize)
		for range 100 {
			if len(p.Frame()) == 0 {
				b.Fatal("empty frame")
			}
		}
	}
}

// TestPreparedCompressed: the compressed variant of a publish is made once,
// by one of many concurrent callers, inflates (with the standard library) to
// the payload, and is absent when compression does not pay.
func TestPreparedCompressed(t *testing.T) {
	cfg := &Deflate{Mode: ModeNoContextTakeover, Level: 1, MinSize: 128}
	for _, tc := range []struct {
		name       string
		payload    []byte
		compressed bool
	}{
		{"json", jsonMessages(1, 1024, 1)[0], true},
		{"big json", bytes.Join(jsonMessages(100, 1024, 2), []byte(",")), true},
		{"under MinSize", []byte(`{"type":"message","channel":"c","data":1}`), false},
		{"incompressible", randomBytes(4096, 3), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPreparedRoom(OpText, append(PreparedBuffer(len(tc.payload)), tc.payload...), MaxHeaderSize)
			const n = 16
			frames := make([][]byte, n)
			made := make([]bool, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					frames[i], made[i] = p.Compressed(cfg)
				}()
			}
			wg.Wait()
			makers := 0
			for i := range n {
				if made[i] {
					makers++
				}
				if unsafe.SliceData(frames[i]) != unsafe.SliceData(frames[0]) || len(frames[i]) != len(frames[0]) {
					t.Fatalf("caller %d got another frame", i)
				}
			}
			if makers != 1 {
				t.Fatalf("%d callers compressed, want 1", makers)
			}
			if !tc.compressed {
				if frames[0] != nil {
					t.Fatalf("a %d-byte frame for a payload that should go plain", len(frames[0]))
				}
				return
			}
			b0, z, size := readServerFrame(t, frames[0])
			if size != len(frames[0]) || b0 != 0x80|bitRSV1|byte(OpText) {
				t.Fatalf("first byte %#x, frame %d of %d bytes", b0, size, len(frames[0]))
			}
			got, err := stdInflate(z)
			if err != nil || !bytes.Equal(got, tc.payload) {
				t.Fatalf("inflates to %d bytes (%v), want the %d-byte payload", len(got), err, len(tc.payload))
			}
			if len(z) >= len(tc.payload) {
				t.Fatalf("compressed %d bytes to %d", len(tc.payload), len(z))
			}
			// The plain frame is still there for connections without the extension.
			if _, _, plain := decodeServerFrame(t, p.Frame()); !bytes.Equal(plain, tc.payload) {
				t.Fatal("the plain frame changed")
			}
		})
	}
}

// BenchmarkPreparedCompressed is a compressed publish: build, compress once,
// hand the compressed frame to 100 connections (allocations: the payload
// buffer, the Prepared and the compressed frame).
func BenchmarkPreparedCompressed(b *testing.B) {
	cfg := &Deflate{Mode: ModeNoContextTakeover, Level: 1, MinSize: 128}
	payload := jsonMessages(1, 1024, 1)[0]
	b.ReportAllocs()
	for b.Loop() {
		p := NewPreparedRoom(OpText, append(PreparedBuffer(len(payload)), payload...), MaxHeaderSize)
		for range 100 {
			if f, _ := p.Compressed(cfg); len(f) == 0 {
				b.Fatal("not compressed")
			}
		}
	}
}
