package codec

import (
	"bytes"
	"slices"
	"testing"

	"github.com/valyala/bytebufferpool"
)

// bomb returns an RFC 7692 message of n zero bytes (deflate's best ratio,
// about 1000:1) followed by a corrupt block: a decoder that inflates it all
// reports the corruption, one that stops at the limit reports 1009.
func bomb(t *testing.T, n int) []byte {
	z := stdDeflate(t, 9, make([]byte, n))
	return append(z, 0xff, 0xff, 0xff, 0xff) // BTYPE 11 (reserved)
}

// TestBombStopsAtLimit: a few KB that inflate to megabytes are refused with
// 1009 once limit+1 bytes came out, without inflating the rest: the corrupt
// block placed after limit + 64 KiB of output is never reached.
func TestBombStopsAtLimit(t *testing.T) {
	const limit = 64 << 10
	cfg := &Config{MaxMessageSize: limit}
	for _, n := range []int{limit + 64<<10, 2 << 20} {
		z := bomb(t, n)
		t.Logf("%d zero bytes compress to %d", n, len(z))
		for _, in := range [][]byte{zf(OpBinary, true, true, z), splitFragments(OpText, z, 3)} {
			if o := feedSplitP(t, cfg, pNCT, slices.Clone(in), func(n int) int { return n }); o.code != CloseTooBig {
				t.Fatalf("%d-byte bomb: got %v, want 1009 before the corrupt tail", n, o)
			}
		}
		// With room for it all, the same input is inflated to its end and
		// the corruption is found: the test above is not passing by luck.
		big := &Config{MaxMessageSize: int64(n) + 1}
		if o := feedSplitP(t, big, pNCT, zf(OpBinary, true, true, z), func(n int) int { return n }); o.code != CloseProtocolError {
			t.Fatalf("%d-byte bomb under a large limit: got %v, want 1002 from the corrupt tail", n, o)
		}
	}
}

// TestBombWork measures it inside: the output never passes limit+1 bytes
// and the decompressor read only the part of the input that makes them
// (plus its 32 KiB look-ahead), not the 2 MiB's worth.
func TestBombWork(t *testing.T) {
	const limit = 100_000
	const size = 2 << 20
	z := append(stdDeflate(t, 9, make([]byte, size)), deflateEnd...)
	var d tdec
	d.Init(&Config{MaxMessageSize: limit, Pool: new(bytebufferpool.Pool)}) // empty: its buffers start at 0 bytes
	d.SetDeflate(pNCT)
	r := run{&d.Decoder, d.cfg}
	inf := inflaters.Get().(*inflater)
	out := r.pool().Get()
	code, _ := r.inflate(inf, z, false, out)
	read := len(z) - inf.br.Len()
	inflaters.Put(inf)
	defer r.pool().Put(out)
	if code != CloseTooBig || len(out.B) != limit+1 || cap(out.B) > limit+1 {
		t.Fatalf("code %d, output %d bytes (cap %d), want 1009 at %d", code, len(out.B), cap(out.B), limit+1)
	}
	// 2 MiB compress to len(z); producing limit + 32 KiB of them needs that
	// fraction of the input (and a little more for block boundaries).
	budget := len(z)*(limit+32<<10)/size + 256
	t.Logf("read %d of %d compressed bytes to produce %d (budget %d)", read, len(z), len(out.B), budget)
	if read > budget {
		t.Fatalf("decompressor read %d compressed bytes, more than the %d that make limit + one window", read, budget)
	}
}

// TestBombUnlimited: with no limit (0) a big message is inflated whole.
func TestBombUnlimited(t *testing.T) {
	pl := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	o := feedSplitP(t, &Config{}, pNCT, zf(OpBinary, true, true, stdDeflate(t, 9, pl)), func(n int) int { return n })
	if o.err != nil || len(o.events) != 1 || len(o.events[0].data) != len(pl) {
		t.Fatalf("1 MiB without a limit: %v", o.err)
	}
}
