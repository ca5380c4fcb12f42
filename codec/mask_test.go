package codec

import (
	"bytes"
	"testing"
)

func TestMaskBytes(t *testing.T) {
	key := [4]byte{1, 2, 4, 8}
	for n := range 80 {
		for pos := range 8 {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(i * 7)
			}
			want := bytes.Clone(src)
			for i := range want {
				want[i] ^= key[(pos+i)%4]
			}
			got := bytes.Clone(src)
			if next := maskBytes(key, pos, got); next != pos+n {
				t.Fatalf("n=%d pos=%d: returned %d", n, pos, next)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("n=%d pos=%d: % x, want % x", n, pos, got, want)
			}
		}
	}
}

// TestMaskInPieces: unmasking a payload in arbitrary pieces (as Feed does
// with the prefixes of an unfinished frame) equals unmasking it at once.
func TestMaskInPieces(t *testing.T) {
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	src := bytes.Repeat([]byte("websocket"), 20)
	whole := bytes.Clone(src)
	maskBytes(key, 0, whole)
	for _, step := range []int{1, 3, 5, 9, 17, 33} {
		got := bytes.Clone(src)
		pos := 0
		for pos < len(got) {
			end := min(pos+step, len(got))
			pos = maskBytes(key, pos, got[pos:end])
		}
		if !bytes.Equal(got, whole) {
			t.Fatalf("step %d differs", step)
		}
	}
}

func BenchmarkMask(b *testing.B) {
	for _, n := range []int{64, 4096} {
		p := make([]byte, n)
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				maskBytes(testMask, 0, p)
			}
		})
	}
}
