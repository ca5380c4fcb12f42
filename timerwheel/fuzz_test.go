package timerwheel

import (
	"math/rand/v2"
	"testing"
)

// byteSource hands out the fuzz input; it reads zeros once exhausted.
type byteSource struct {
	b []byte
}

func (s *byteSource) more() bool { return len(s.b) > 0 }

func (s *byteSource) next() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

// delta decodes a signed, exponentially spread duration: from a few
// nanoseconds to past the int64 range (saturated), so every level is hit.
func (s *byteSource) delta() int64 {
	m, e := int64(s.next()), s.next()
	d := satShl(m, uint(e&63))
	if e&64 != 0 {
		return -d
	}
	return d
}

var fuzzTicks = [...]int64{1, 3, 1000, 1e6, 10e6, 1e9}

// runOps decodes data into a sequence of wheel operations and runs them
// through the harness, which checks each against the reference model.
//
// data[0] picks the tick, data[1] the origin; then each op byte holds the
// kind in its low 3 bits, a flag in bit 3 and an entry id in the top 4.
func runOps(tb testing.TB, data []byte) {
	if len(data) < 2 {
		return
	}
	tick := fuzzTicks[int(data[0])%len(fuzzTicks)]
	origin := (int64(data[1]) - 64) * 1e9
	h := newHarness(tb, tick, origin, 16)
	src := &byteSource{b: data[2:]}
	for ops := 0; src.more() && ops < 4000; ops++ {
		op := src.next()
		id, flag := int(op>>4), op&8 != 0
		switch op & 7 {
		case 0, 1:
			h.schedule(id, satAdd(h.maxNow, src.delta()))
		case 2:
			h.cancel(id)
		case 3: // small step, backwards if flagged
			d := int64(src.next()) * (tick/4 + 1)
			if flag {
				d = -d
			}
			h.advance(satAdd(h.now, d))
		case 4: // jump forward
			d := src.delta()
			if d < 0 {
				d = -d
			}
			h.advance(satAdd(h.maxNow, d))
		case 5: // what id's fire callback does
			b := src.next()
			h.own[id].act = action{kind: actKind(b & 3), other: int(b >> 4), delta: src.delta()}
		case 6: // advance to just before, or exactly at, Next()
			at, ok := h.w.Next()
			if !ok {
				continue
			}
			if flag && !h.hasPending() {
				if n := h.advance(at - 1); n != 0 {
					tb.Fatalf("Advance(Next()-1 = %d) fired %d entries", at-1, n)
				}
			} else {
				h.advance(at)
			}
		case 7: // deadline on, or 1ns off, a tick boundary
			t := h.cur + uint64(src.next())
			at := h.refTime(t)
			if flag {
				at = satAdd(at, int64(src.next()%3)-1)
			}
			h.schedule(id, at)
		}
		h.check()
	}
}

func FuzzWheel(f *testing.F) {
	f.Add([]byte{4, 64, 0x00, 10, 0, 0x13, 20, 0x04, 12, 0, 0x06, 0x0e, 0x06})
	f.Add([]byte{0, 70, 0x05, 0x31, 5, 2, 0x00, 200, 40, 0x10, 255, 30, 0x0c, 0, 62, 0x06, 0x06, 0x06, 0x06})
	f.Add([]byte{5, 0, 0x07, 3, 0x1f, 0, 1, 0x27, 0, 0x03, 0x0b, 1, 0x03, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		runOps(t, data)
	})
}

// TestRandomAgainstReference runs random op streams through the same decoder
// as FuzzWheel, with fixed seeds so that failures reproduce.
func TestRandomAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		data := make([]byte, 2+rng.IntN(3000))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		// Bias half the runs towards small deltas, where entries
		// actually meet the clock instead of sitting in the far future.
		if i%2 == 1 {
			for j := 2; j < len(data); j++ {
				if rng.IntN(3) == 0 {
					data[j] &= 0x47 // shift < 8 when read as a delta exponent
				}
			}
		}
		runOps(t, data)
		if t.Failed() {
			t.Fatalf("failing input (run %d): %x", i, data)
		}
	}
}

// TestRandomHeartbeats drives many entries with a fake clock the way an
// event loop does (re-arming on fire, resets on activity, occasional stalls)
// and checks every step against the reference.
func TestRandomHeartbeats(t *testing.T) {
	const n = 500
	tick := int64(10e6)
	h := newHarness(t, tick, 1_700_000_000e9, n)
	rng := rand.New(rand.NewPCG(3, 4))
	span := func() int64 { return rng.Int64N(int64(3600e9)) } // up to an hour
	for i := range n {
		h.own[i].act = action{kind: actReschedSelf, delta: span()}
		h.schedule(i, h.now+span())
	}
	for step := range 3000 {
		switch r := rng.IntN(100); {
		case r < 40: // activity resets a few timers
			for range 5 {
				h.schedule(rng.IntN(n), h.maxNow+span())
			}
		case r < 45:
			h.cancel(rng.IntN(n))
		case r < 50: // callbacks cancel or schedule others
			id := rng.IntN(n)
			h.own[id].act = action{kind: actKind(1 + rng.IntN(3)), other: rng.IntN(n), delta: span() - int64(600e9)}
		case r < 97:
			h.advance(h.maxNow + rng.Int64N(3*tick))
		default: // stalled loop
			h.advance(h.maxNow + rng.Int64N(int64(1800e9)))
		}
		if step%50 == 0 {
			h.check()
		}
	}
	if h.fires == 0 {
		t.Fatal("nothing fired")
	}
}
