package codec

import (
	"bytes"
	"strconv"
	"testing"
)

func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// benchMask has only bytes below 0x80: Feed unmasks the benchmark buffer in
// place, so every other iteration sees the masked bytes again, and an ASCII
// payload stays ASCII (valid text) either way. No copy in the timed loop.
var benchMask = [4]byte{0x12, 0x34, 0x56, 0x78}

func asciiPayload(n int) []byte {
	return bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz012345"), n/32+1)[:n]
}

func benchFeed(b *testing.B, buf []byte, payload int) {
	var d tdec
	d.Init(&Config{MaxMessageSize: 1 << 20})
	var h nopHandler
	b.SetBytes(int64(payload))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := d.Feed(buf, &h); err != nil || n != len(buf) {
			b.Fatalf("consumed %d of %d: %v", n, len(buf), err)
		}
	}
}

// BenchmarkDecodeFrame: parse + unmask + UTF-8 check + deliver of one whole
// masked frame.
func BenchmarkDecodeFrame(b *testing.B) {
	for _, n := range []int{64, 4096} {
		for _, op := range []OpCode{OpText, OpBinary} {
			buf := AppendClientFrame(nil, op, true, benchMask, asciiPayload(n))
			b.Run(op.String()+"-"+sizeName(n), func(b *testing.B) { benchFeed(b, buf, n) })
		}
	}
}

// BenchmarkDecodeFragmented: a 4 KiB text message in 4 fragments, assembled
// in a pooled buffer.
func BenchmarkDecodeFragmented(b *testing.B) {
	p := asciiPayload(4096)
	var buf []byte
	for i := range 4 {
		op := OpContinuation
		if i == 0 {
			op = OpText
		}
		buf = AppendClientFrame(buf, op, i == 3, benchMask, p[i*1024:(i+1)*1024])
	}
	benchFeed(b, buf, len(p))
}

// BenchmarkDecodeSplitFrame: a 4 KiB text frame that arrives in two reads,
// so its first half is unmasked and checked while the second is missing.
func BenchmarkDecodeSplitFrame(b *testing.B) {
	buf := AppendClientFrame(nil, OpText, true, benchMask, asciiPayload(4096))
	half := len(buf) / 2
	var d tdec
	d.Init(&Config{})
	var h nopHandler
	b.SetBytes(4096)
	b.ReportAllocs()
	for b.Loop() {
		if n, err := d.Feed(buf[:half], &h); err != nil || n != 0 {
			b.Fatal(n, err)
		}
		if n, err := d.Feed(buf, &h); err != nil || n != len(buf) {
			b.Fatal(n, err)
		}
	}
}
