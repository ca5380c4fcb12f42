package codec

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// splitter returns random piece lengths: mostly small pieces, sometimes
// large ones, so headers, masking keys and payloads are cut everywhere.
func splitter(seed uint64) func(int) int {
	r := rand.New(rand.NewPCG(seed, seed>>7^0x9e3779b97f4a7c15))
	return func(rem int) int {
		if r.IntN(4) == 0 {
			return r.IntN(rem) + 1
		}
		return r.IntN(min(rem, 9)) + 1
	}
}

var fuzzLimits = [4]int64{0, 1, 16, 300}

// FuzzDecoder: arbitrary bytes, fed whole or split at random points, never
// panic, Feed stays within bounds (checked by feedSplit), and the outcome does
// not depend on the split.
func FuzzDecoder(f *testing.F) {
	f.Add(cf(OpText, true, "hello"), uint64(1), byte(0))
	f.Add(cat(cf(OpText, false, "he"), cf(OpPing, true, "p"), cf(OpContinuation, true, "llo")), uint64(2), byte(0))
	f.Add(cat(sf(OpBinary, false, "0123456789"), sf(OpContinuation, true, "0123456789")), uint64(3), byte(1|2<<1))
	f.Add(cf(OpText, true, "a\xed\xa0\x80b"), uint64(4), byte(0))
	f.Add(cf(OpClose, true, closePayload(1000, "bye")), uint64(5), byte(0))
	f.Add(AppendClientFrame(nil, OpText, true, testMask, bytes.Repeat([]byte("é"), 200)), uint64(6), byte(3<<1))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, mode byte) {
		cfg := &Config{Client: mode&1 != 0, MaxMessageSize: fuzzLimits[mode>>1&3]}
		whole := feedWhole(t, cfg, data)
		split := feedSplit(t, cfg, bytes.Clone(data), splitter(seed))
		if !sameOutcome(whole, split) {
			t.Fatalf("split feed: %v\nwhole feed: %v", split, whole)
		}
		for _, e := range whole.events {
			if e.kind == "msg" && e.op == OpText && !utf8.ValidString(e.data) {
				t.Fatalf("invalid UTF-8 delivered as text: %q", e.data)
			}
			if e.kind == "msg" && cfg.MaxMessageSize > 0 && int64(len(e.data)) > cfg.MaxMessageSize {
				t.Fatalf("%d-byte message delivered over the %d limit", len(e.data), cfg.MaxMessageSize)
			}
		}
	})
}

// FuzzAssembler: a valid message cut into fragments (with pings between
// them) and fed in random pieces comes out exactly as it went in; with the
// limit at its size it is accepted, one byte lower it is refused with 1009.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte("hello, world"), []byte{3, 0, 5}, uint64(1), byte(1))
	f.Add([]byte("\x00\x01\x02\xff"), []byte{1}, uint64(2), byte(2|4))
	f.Add([]byte("aé€😀z"), []byte{1, 1, 1, 1, 1, 1, 1}, uint64(3), byte(1|4))
	f.Add(bytes.Repeat([]byte("x"), 300), []byte{200, 0}, uint64(4), byte(0))
	f.Fuzz(func(t *testing.T, payload, cuts []byte, seed uint64, flags byte) {
		text, clientSide, pings := flags&1 != 0, flags&2 != 0, flags&4 != 0
		op := OpBinary
		if text {
			op = OpText
			payload = bytes.ToValidUTF8(payload, []byte("\uFFFD"))
		}
		var mask [4]byte
		binary.LittleEndian.PutUint32(mask[:], uint32(seed))
		frame := func(dst []byte, op OpCode, fin bool, p []byte) []byte {
			if clientSide {
				return AppendFrame(dst, op, fin, p)
			}
			return AppendClientFrame(dst, op, fin, mask, p)
		}
		var in []byte
		var want []event
		rest, first := payload, true
		for _, c := range cuts {
			if len(rest) == 0 && !first {
				break
			}
			k := min(int(c), len(rest))
			fop := OpContinuation
			if first {
				fop = op
			}
			in = frame(in, fop, false, rest[:k])
			rest, first = rest[k:], false
			if pings {
				in = frame(in, OpPing, true, []byte{c})
				want = append(want, ping(string([]byte{c})))
			}
		}
		fop := OpContinuation
		if first {
			fop = op
		}
		in = frame(in, fop, true, rest)
		want = append(want, msg(op, string(payload)))

		cfg := &Config{Client: clientSide, MaxMessageSize: int64(len(payload))}
		if len(payload) == 0 {
			cfg.MaxMessageSize = 0
		}
		got := feedSplit(t, cfg, bytes.Clone(in), splitter(seed))
		if !sameOutcome(got, outcome{events: want}) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
		if len(payload) > 0 {
			cfg.MaxMessageSize = int64(len(payload) - 1)
			if cfg.MaxMessageSize == 0 {
				return // 0 means unlimited
			}
			got = feedSplit(t, cfg, bytes.Clone(in), splitter(seed))
			if got.code != CloseTooBig {
				t.Fatalf("one byte over the limit: %v", got)
			}
		}
	})
}

// FuzzUTF8: incremental validation over any split agrees with utf8.Valid,
// and each Write answers exactly whether the bytes so far can still become
// valid UTF-8.
func FuzzUTF8(f *testing.F) {
	for _, s := range utf8Cases {
		f.Add([]byte(s), uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		next := splitter(seed)
		var u UTF8
		ok := true
		for off := 0; off < len(data); {
			k := next(len(data) - off)
			ok = u.Write(data[off:off+k]) && ok
			off += k
			if len(data) <= 64 && ok != validPrefix(data[:off]) {
				t.Fatalf("after %d bytes of %q: Write says %v", off, data, ok)
			}
		}
		if got := ok && u.Complete(); got != utf8.Valid(data) {
			t.Fatalf("%q: incremental %v, utf8.Valid %v", data, got, !got)
		}
	})
}
