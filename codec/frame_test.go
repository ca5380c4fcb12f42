package codec

import (
	"bytes"
	"strings"
	"testing"
)

func TestAppendHeader(t *testing.T) {
	cases := []struct {
		op   OpCode
		fin  bool
		n    int
		want []byte
	}{
		{OpText, true, 0, []byte{0x81, 0}},
		{OpBinary, false, 125, []byte{0x02, 125}},
		{OpContinuation, true, 126, []byte{0x80, 126, 0, 126}},
		{OpText, true, 65535, []byte{0x81, 126, 0xFF, 0xFF}},
		{OpBinary, true, 65536, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{OpPing, true, 3, []byte{0x89, 3}},
	}
	for _, tc := range cases {
		got := AppendHeader([]byte{0xEE}, tc.op, tc.fin, tc.n)
		if !bytes.Equal(got, append([]byte{0xEE}, tc.want...)) {
			t.Errorf("%v fin=%v n=%d: % x, want % x", tc.op, tc.fin, tc.n, got[1:], tc.want)
		}
		if FrameSize(tc.n) != len(tc.want)+tc.n {
			t.Errorf("FrameSize(%d) = %d, want %d", tc.n, FrameSize(tc.n), len(tc.want)+tc.n)
		}
	}
}

// TestFrameRoundTrip: what the encoders write, the decoder reads back, on
// both sides, for every length class.
func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		p := bytes.Repeat([]byte{0xA5}, n)
		sframe := AppendFrame(nil, OpBinary, true, p)
		if len(sframe) != FrameSize(n) {
			t.Fatalf("n=%d: frame %d bytes, FrameSize %d", n, len(sframe), FrameSize(n))
		}
		cframe := AppendClientFrame(nil, OpBinary, true, testMask, p)
		if len(cframe) != HeaderSize(n, true)+n {
			t.Fatalf("n=%d: client frame %d bytes, want %d", n, len(cframe), HeaderSize(n, true)+n)
		}
		for cfg, frame := range map[*Config][]byte{client: sframe, server: cframe} {
			o := feedWhole(t, cfg, frame)
			if o.err != nil || len(o.events) != 1 || o.events[0] != msg(OpBinary, string(p)) {
				t.Fatalf("n=%d client=%v: %v", n, cfg.Client, o.err)
			}
		}
	}
}

func TestAppendClose(t *testing.T) {
	long := strings.Repeat("x", 122) + "é" // the é straddles byte 123
	cases := []struct {
		name       string
		code       CloseCode
		reason     string
		wantCode   CloseCode
		wantReason string
	}{
		{"normal", CloseNormal, "bye", CloseNormal, "bye"},
		{"no reason", CloseGoingAway, "", CloseGoingAway, ""},
		{"no status is empty", CloseNoStatus, "ignored", CloseNoStatus, ""},
		{"abnormal is empty", CloseAbnormal, "", CloseNoStatus, ""},
		{"zero is empty", 0, "", CloseNoStatus, ""},
		{"reason cut at a character", CloseTooBig, long, CloseTooBig, strings.Repeat("x", 122)},
		{"reason cut at 123", ClosePolicyViolation, strings.Repeat("y", 200), ClosePolicyViolation, strings.Repeat("y", 123)},
	}
	for _, tc := range cases {
		for _, side := range []struct {
			cfg   *Config
			frame []byte
		}{
			{client, AppendClose(nil, tc.code, tc.reason)},
			{server, AppendClientClose(nil, testMask, tc.code, tc.reason)},
		} {
			o := feedWhole(t, side.cfg, side.frame)
			if o.err != nil || len(o.events) != 1 || o.events[0] != closed(tc.wantCode, tc.wantReason) {
				t.Errorf("%s client=%v: %v", tc.name, side.cfg.Client, o)
			}
		}
	}
}

func TestAppendNoAlloc(t *testing.T) {
	p := make([]byte, 4096)
	dst := make([]byte, 0, 8192)
	allocs := testing.AllocsPerRun(100, func() {
		dst = AppendFrame(dst[:0], OpBinary, true, p)
		dst = AppendClose(dst[:0], CloseNormal, "bye")
		dst = AppendClientFrame(dst[:0], OpText, true, testMask, p)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocs with enough capacity", allocs)
	}
}

func TestOpCodeAndCloseCode(t *testing.T) {
	for op, ctl := range map[OpCode]bool{OpContinuation: false, OpText: false, OpBinary: false, OpClose: true, OpPing: true, OpPong: true} {
		if op.IsControl() != ctl {
			t.Errorf("%v.IsControl() = %v", op, !ctl)
		}
	}
	if OpCode(0xB).String() != "opcode(0xb)" || OpPong.String() != "pong" {
		t.Errorf("String: %q %q", OpCode(0xB).String(), OpPong.String())
	}
	for c := CloseCode(0); c < 6000; c++ {
		want := (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)
		if ValidCloseCode(c) != want {
			t.Fatalf("ValidCloseCode(%d) = %v", c, !want)
		}
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	for _, n := range []int{64, 4096} {
		p := make([]byte, n)
		dst := make([]byte, 0, FrameSize(n))
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				dst = AppendFrame(dst[:0], OpText, true, p)
			}
		})
	}
}
