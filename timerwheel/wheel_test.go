package timerwheel

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"
)

const (
	testTick   = int64(10 * time.Millisecond)
	testOrigin = int64(1_700_000_000 * time.Second)
)

// boundary is when a deadline at may fire: at rounded up to the tick grid.
func boundary(origin, tick, at int64) int64 {
	d := at - origin
	if d <= 0 {
		return origin
	}
	return origin + (d+tick-1)/tick*tick
}

// collect runs Advance and returns the ids it fired, sorted.
func collect(w *Wheel[*owner], now int64) []int {
	var ids []int
	n := w.Advance(now, func(e *Entry[*owner]) { ids = append(ids, e.Value.id) })
	if n != len(ids) {
		panic("Advance count differs from fire calls")
	}
	slices.Sort(ids)
	return ids
}

func newOwners(n int) []*owner {
	os := make([]*owner, n)
	for i := range os {
		os[i] = &owner{id: i}
		os[i].Value = os[i]
	}
	return os
}

func TestEntrySize(t *testing.T) {
	if s := unsafe.Sizeof(Entry[*owner]{}); s > 48 {
		t.Fatalf("Entry[*T] is %d bytes, want <= 48", s)
	}
}

// levelDeadlines are deadlines (in ticks from the origin) on both sides of
// every level boundary the tests reach, plus a few far ones.
var levelDeadlines = []int64{
	1, 2, 31, 63, 64, 65, 127, 128, 4095, 4096, 4097, 5000,
	1<<18 - 1, 1 << 18, 1<<18 + 1, 1<<24 + 77, 3<<30 + 1, 1<<36 - 5, 1 << 39, 1<<39 + 12345, // 2^39 ticks of 10 ms: near the int64 end
}

// TestFiresAtExactTick checks, for deadlines across all levels, on and 1 ns
// off the tick grid, that an entry is not fired 1 ns before its boundary and
// is fired exactly at it, whatever intermediate Advances (and so cascades)
// happened before.
func TestFiresAtExactTick(t *testing.T) {
	type stops int
	const (
		direct  stops = iota // one jump to the boundary
		halving              // Advance to halfway points first: cascades at many levels
		grid                 // every tick (small deadlines only)
	)
	for _, ticks := range levelDeadlines {
		for _, off := range []int64{-1, 0, 1} {
			for _, how := range []stops{direct, halving, grid} {
				if how == grid && ticks > 5000 {
					continue
				}
				at := testOrigin + ticks*testTick + off
				b := boundary(testOrigin, testTick, at)
				w := New[*owner](time.Duration(testTick), testOrigin)
				o := newOwners(1)[0]
				w.Schedule(&o.Entry, at)
				now := testOrigin
				switch how {
				case halving:
					for b-1-now > testTick {
						now += (b - 1 - now) / 2
						if got := collect(w, now); len(got) != 0 {
							t.Fatalf("deadline %d ticks %+d ns: fired at %d, %d ns before its boundary", ticks, off, now, b-now)
						}
					}
				case grid:
					for now+testTick < b {
						now += testTick
						if got := collect(w, now); len(got) != 0 {
							t.Fatalf("deadline %d ticks %+d ns: fired at tick %d", ticks, off, (now-testOrigin)/testTick)
						}
					}
				}
				if got := collect(w, b-1); len(got) != 0 {
					t.Fatalf("deadline %d ticks %+d ns (%v): fired 1 ns before its boundary", ticks, off, how)
				}
				if got := collect(w, b); len(got) != 1 {
					t.Fatalf("deadline %d ticks %+d ns (%v): not fired at its boundary", ticks, off, how)
				}
				if at > b || b-at >= testTick {
					t.Fatalf("boundary %d not within one tick after deadline %d", b, at)
				}
				if w.Len() != 0 || w.occupiedAny() {
					t.Fatalf("deadline %d ticks: wheel not empty after firing", ticks)
				}
			}
		}
	}
}

func (w *Wheel[T]) occupiedAny() bool {
	for _, m := range w.occupied {
		if m != 0 {
			return true
		}
	}
	return w.levelsUsed != 0 || w.heads[dueList] != nil || w.heads[firingList] != nil
}

// TestManyDeadlinesTogether schedules entries at every level at once and
// walks the clock over each boundary: exactly the entries of a boundary fire
// there.
func TestManyDeadlinesTogether(t *testing.T) {
	w := New[*owner](time.Duration(testTick), testOrigin)
	var ats []int64
	for _, ticks := range levelDeadlines {
		for _, off := range []int64{-1, 0, 1} {
			ats = append(ats, testOrigin+ticks*testTick+off)
		}
	}
	os := newOwners(len(ats))
	want := map[int64][]int{}
	for i, at := range ats {
		w.Schedule(&os[i].Entry, at)
		b := boundary(testOrigin, testTick, at)
		want[b] = append(want[b], i)
	}
	bs := make([]int64, 0, len(want))
	for b := range want {
		bs = append(bs, b)
	}
	slices.Sort(bs)
	for _, b := range bs {
		if got := collect(w, b-1); len(got) != 0 {
			t.Fatalf("Advance(%d): fired %v, 1 ns before boundary", b-1, got)
		}
		if got := collect(w, b); !slices.Equal(got, want[b]) {
			t.Fatalf("Advance to boundary %d: fired %v, want %v", b, got, want[b])
		}
	}
	if w.Len() != 0 {
		t.Fatalf("Len() = %d after all boundaries", w.Len())
	}
}

// TestTickByTick advances on the grid one tick at a time and checks every
// entry fires on the tick of its boundary.
func TestTickByTick(t *testing.T) {
	const n, horizon = 300, 20000 // ticks: levels 0, 1 and 2
	w := New[*owner](time.Duration(testTick), testOrigin)
	os := newOwners(n)
	rng := rand.New(rand.NewPCG(5, 6))
	due := make([]int64, n)
	for i, o := range os {
		at := testOrigin + rng.Int64N(horizon*testTick)
		w.Schedule(&o.Entry, at)
		due[i] = boundary(testOrigin, testTick, at)
	}
	fired := 0
	for now := testOrigin; now <= testOrigin+horizon*testTick; now += testTick {
		w.Advance(now, func(e *Entry[*owner]) {
			if d := due[e.Value.id]; d != now {
				t.Fatalf("entry %d fired at %d, boundary %d", e.Value.id, now, d)
			}
			fired++
		})
	}
	if fired != n {
		t.Fatalf("fired %d of %d", fired, n)
	}
}

func TestReset(t *testing.T) {
	tk := func(n int64) int64 { return testOrigin + n*testTick }
	cases := []struct {
		name          string
		first, second int64 // deadlines
		mid           int64 // Advance before the reset
	}{
		{"later same level", tk(10), tk(50), tk(5)},
		{"earlier same level", tk(50), tk(10), tk(5)},
		{"later across levels", tk(10), tk(100_000), tk(1)},
		{"earlier across levels", tk(100_000), tk(70), tk(1)},
		{"after cascade, later", tk(5000), tk(9000), tk(4100)},
		{"after cascade, earlier", tk(5000), tk(4200), tk(4150)},
		{"to the same deadline", tk(300), tk(300), tk(2)},
		{"into the past", tk(300), tk(3), tk(200)},
		{"1ns later crosses a tick", tk(64), tk(64) + 1, tk(0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := New[*owner](time.Duration(testTick), testOrigin)
			o := newOwners(1)[0]
			w.Schedule(&o.Entry, c.first)
			if got := collect(w, c.mid); len(got) != 0 {
				t.Fatal("fired before the reset")
			}
			w.Schedule(&o.Entry, c.second)
			if w.Len() != 1 {
				t.Fatalf("Len() = %d after reset, want 1", w.Len())
			}
			b := max(boundary(testOrigin, testTick, c.second), c.mid)
			if b == c.mid { // past deadline: fires at the next Advance
				if got := collect(w, c.mid); len(got) != 1 {
					t.Fatalf("past deadline: fired %v at the next Advance", got)
				}
				return
			}
			if b1 := boundary(testOrigin, testTick, c.first); b1 < b {
				if got := collect(w, b1); len(got) != 0 {
					t.Fatal("fired at the old deadline")
				}
			}
			if got := collect(w, b-1); len(got) != 0 {
				t.Fatal("fired before the new deadline")
			}
			if got := collect(w, b); len(got) != 1 {
				t.Fatal("did not fire at the new deadline")
			}
			if got := collect(w, b+1000*testTick); len(got) != 0 {
				t.Fatal("fired twice")
			}
		})
	}
}

func TestCancel(t *testing.T) {
	tk := func(n int64) int64 { return testOrigin + n*testTick }
	cases := []struct {
		name   string
		ats    []int64 // deadlines of entries 0..n-1
		mid    int64   // Advance before cancelling
		cancel []int   // ids cancelled (may repeat, may be unscheduled)
		want   []int   // ids that fire by the end
		late   bool    // schedule after the Advance to mid (so past ones are due)
	}{
		{"unscheduled is a no-op", nil, tk(0), nil, nil, false},
		{"only entry", []int64{tk(5)}, tk(0), []int{0}, nil, false},
		{"twice", []int64{tk(5)}, tk(0), []int{0, 0}, nil, false},
		{"head of slot", []int64{tk(5), tk(5), tk(5)}, tk(0), []int{2}, []int{0, 1}, false},
		{"middle of slot", []int64{tk(5), tk(5), tk(5)}, tk(0), []int{1}, []int{0, 2}, false},
		{"tail of slot", []int64{tk(5), tk(5), tk(5)}, tk(0), []int{0}, []int{1, 2}, false},
		{"after cascade", []int64{tk(5000), tk(5001)}, tk(4200), []int{0}, []int{1}, false},
		{"upper level", []int64{tk(1 << 20), tk(3)}, tk(0), []int{0}, []int{1}, false},
		{"due entry", []int64{tk(1), tk(2)}, tk(3), []int{0}, []int{1}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := New[*owner](time.Duration(testTick), testOrigin)
			os := newOwners(len(c.ats) + 1) // one never scheduled
			schedule := func() {
				for i, at := range c.ats {
					w.Schedule(&os[i].Entry, at)
				}
			}
			if !c.late {
				schedule()
			}
			if got := collect(w, c.mid); len(got) != 0 {
				t.Fatalf("fired %v before the cancel", got)
			}
			if c.late {
				schedule()
			}
			for _, id := range c.cancel {
				w.Cancel(&os[id].Entry)
				if os[id].Scheduled() {
					t.Fatalf("entry %d still scheduled after Cancel", id)
				}
			}
			w.Cancel(&os[len(c.ats)].Entry)
			if w.Len() != len(c.want) {
				t.Fatalf("Len() = %d, want %d", w.Len(), len(c.want))
			}
			if got := collect(w, tk(1<<21)); !slices.Equal(got, c.want) {
				t.Fatalf("fired %v, want %v", got, c.want)
			}
			if w.Len() != 0 || w.occupiedAny() {
				t.Fatal("wheel not empty at the end")
			}
			if _, ok := w.Next(); ok {
				t.Fatal("Next() ok on an empty wheel")
			}
		})
	}
}

// TestFireCallbacks checks what a fire callback may do to the wheel.
func TestFireCallbacks(t *testing.T) {
	tk := func(n int64) int64 { return testOrigin + n*testTick }
	type step struct {
		now  int64
		want []int // ids fired by Advance(now), sorted
	}
	cases := []struct {
		name   string
		ats    []int64
		onFire func(w *Wheel[*owner], os []*owner, e *Entry[*owner], now int64)
		steps  []step
	}{
		{
			name: "cancel a peer due on the same tick",
			ats:  []int64{tk(7), tk(7)},
			onFire: func(w *Wheel[*owner], os []*owner, e *Entry[*owner], _ int64) {
				w.Cancel(&os[1-e.Value.id].Entry)
			},
			steps: []step{{tk(7), nil}}, // exactly one of the two: checked below
		},
		{
			name: "cancel a later entry of the same Advance",
			ats:  []int64{tk(3), tk(900)},
			onFire: func(w *Wheel[*owner], os []*owner, e *Entry[*owner], _ int64) {
				w.Cancel(&os[1].Entry)
			},
			steps: []step{{tk(1000), []int{0}}},
		},
		{
			name: "re-arm later within the same Advance",
			ats:  []int64{tk(10)},
			onFire: func(w *Wheel[*owner], os []*owner, e *Entry[*owner], _ int64) {
				if e.Value.act.kind == actNone {
					e.Value.act.kind = actReschedSelf
					w.Schedule(e, tk(100))
				}
			},
			steps: []step{{tk(99), []int{0}}, {tk(100), []int{0}}},
		},
		{
			name: "re-arm into the past waits for the next Advance",
			ats:  []int64{tk(10)},
			onFire: func(w *Wheel[*owner], os []*owner, e *Entry[*owner], _ int64) {
				if e.Value.act.delta < 2 {
					e.Value.act.delta++
					w.Schedule(e, tk(0))
				}
			},
			steps: []step{{tk(10), []int{0}}, {tk(10), []int{0}}, {tk(10), []int{0}}, {tk(20), nil}},
		},
		{
			name: "schedule a peer for the current tick",
			ats:  []int64{tk(10), 0},
			onFire: func(w *Wheel[*owner], os []*owner, e *Entry[*owner], _ int64) {
				if e.Value.id == 0 {
					w.Schedule(&os[1].Entry, tk(10))
				}
			},
			steps: []step{{tk(50), []int{0}}, {tk(50), []int{1}}},
		},
		{
			name: "schedule a peer later within the same Advance",
			ats:  []int64{tk(10), 0},
			onFire: func(w *Wheel[*owner], os []*owner, e *Entry[*owner], _ int64) {
				if e.Value.id == 0 {
					w.Schedule(&os[1].Entry, tk(5000))
				}
			},
			steps: []step{{tk(6000), []int{0, 1}}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := New[*owner](time.Duration(testTick), testOrigin)
			os := newOwners(len(c.ats))
			for i, at := range c.ats {
				if at != 0 {
					w.Schedule(&os[i].Entry, at)
				}
			}
			for i, s := range c.steps {
				var got []int
				n := w.Advance(s.now, func(e *Entry[*owner]) {
					got = append(got, e.Value.id)
					c.onFire(w, os, e, s.now)
				})
				slices.Sort(got)
				if c.name == "cancel a peer due on the same tick" {
					if n != 1 || w.Len() != 0 {
						t.Fatalf("fired %v (Len %d), want exactly one of the pair", got, w.Len())
					}
					continue
				}
				if n != len(got) || !slices.Equal(got, s.want) {
					t.Fatalf("step %d: Advance(%d) fired %v (returned %d), want %v", i, s.now, got, n, s.want)
				}
			}
		})
	}
}

// TestBigJump stalls the clock for a long time over many entries spread
// across levels; one Advance must fire exactly those due.
func TestBigJump(t *testing.T) {
	const n = 50_000
	w := New[*owner](time.Duration(testTick), testOrigin)
	os := newOwners(n)
	rng := rand.New(rand.NewPCG(7, 8))
	bs := make([]int64, n)
	for i, o := range os {
		at := testOrigin + rng.Int64N(int64(48*time.Hour))
		w.Schedule(&o.Entry, at)
		bs[i] = boundary(testOrigin, testTick, at)
	}
	for _, now := range []int64{
		testOrigin + int64(90*time.Second),
		testOrigin + int64(13*time.Hour) + 7,
		testOrigin + int64(13*time.Hour) + 7, // same time again: nothing
		testOrigin + int64(100*time.Hour),
	} {
		var want []int
		for i, b := range bs {
			if b <= now && b != 0 {
				want = append(want, i)
				bs[i] = 0
			}
		}
		if got := collect(w, now); !slices.Equal(got, want) {
			t.Fatalf("Advance(%d): fired %d entries, want %d", now, len(got), len(want))
		}
	}
	if w.Len() != 0 || w.occupiedAny() {
		t.Fatal("wheel not empty after the last jump")
	}
}

func TestLen(t *testing.T) {
	w := New[*owner](time.Duration(testTick), testOrigin)
	os := newOwners(4)
	tk := func(n int64) int64 { return testOrigin + n*testTick }
	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"empty", func() {}, 0},
		{"schedule", func() { w.Schedule(&os[0].Entry, tk(5)) }, 1},
		{"reset does not count twice", func() { w.Schedule(&os[0].Entry, tk(9)) }, 1},
		{"schedule two more", func() { w.Schedule(&os[1].Entry, tk(1e6)); w.Schedule(&os[2].Entry, tk(-1)) }, 3},
		{"cancel unscheduled", func() { w.Cancel(&os[3].Entry) }, 3},
		{"cancel", func() { w.Cancel(&os[1].Entry) }, 2},
		{"fire due", func() { w.Advance(tk(0), func(*Entry[*owner]) {}) }, 1},
		{"fire rest", func() { w.Advance(tk(10), func(*Entry[*owner]) {}) }, 0},
	}
	for _, s := range steps {
		s.do()
		if got := w.Len(); got != s.want {
			t.Fatalf("%s: Len() = %d, want %d", s.name, got, s.want)
		}
	}
}

// TestExtremeTimes covers deadlines at the ends of the int64 range and
// origins far from zero, where naive tick arithmetic overflows.
func TestExtremeTimes(t *testing.T) {
	cases := []struct {
		name   string
		tick   int64
		origin int64
		at     int64
	}{
		{"MaxInt64 at 1ns", 1, 0, math.MaxInt64},
		{"MaxInt64 at 1h", int64(time.Hour), testOrigin, math.MaxInt64},
		{"distance above MaxInt64", 1, -5e18, 4e18},
		{"negative origin", 3, -1e9, -1e9 + 1000},
		{"MinInt64 is due now", 1, 0, math.MinInt64},
		{"origin MinInt64", 7, math.MinInt64, math.MaxInt64 - 1},
		{"boundary beyond MaxInt64", 1000, 0, math.MaxInt64 - 5},
		{"boundary at MaxInt64", 1 << 20, math.MaxInt64 - 5<<20, math.MaxInt64 - 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.tick, c.origin, 1)
			h.schedule(0, c.at)
			h.check()
			// The boundary, exactly: it may lie beyond MaxInt64, where no
			// Advance can reach it.
			b := big.NewInt(c.origin)
			if c.at > c.origin {
				d := new(big.Int).Sub(big.NewInt(c.at), b)
				d.Add(d, big.NewInt(c.tick-1))
				d.Quo(d, big.NewInt(c.tick))
				b.Add(b, d.Mul(d, big.NewInt(c.tick)))
			}
			if !b.IsInt64() {
				if n := h.advance(math.MaxInt64); n != 0 {
					t.Fatalf("fired at MaxInt64, before its boundary %v", b)
				}
				return
			}
			if bi := b.Int64(); bi > c.origin {
				if n := h.advance(bi - 1); n != 0 {
					t.Fatalf("fired at %d, before its boundary %d", bi-1, bi)
				}
			}
			if n := h.advance(b.Int64()); n != 1 {
				t.Fatalf("Advance(%v) fired %d, want 1", b, n)
			}
		})
	}
}

func TestClockBackwards(t *testing.T) {
	h := newHarness(t, testTick, testOrigin, 3)
	h.schedule(0, testOrigin+50*testTick)
	h.advance(testOrigin + 40*testTick)
	h.advance(testOrigin + 10*testTick) // earlier: nothing moves back
	h.schedule(1, testOrigin+20*testTick)
	h.schedule(2, testOrigin+45*testTick)
	if n := h.advance(testOrigin + 30*testTick); n != 1 { // only the one made due
		t.Fatalf("fired %d, want 1", n)
	}
	if n := h.advance(testOrigin + 50*testTick); n != 2 {
		t.Fatalf("fired %d, want 2", n)
	}
}

func TestNext(t *testing.T) {
	w := New[*owner](time.Duration(testTick), testOrigin)
	os := newOwners(2)
	if _, ok := w.Next(); ok {
		t.Fatal("Next() ok on an empty wheel")
	}
	w.Schedule(&os[0].Entry, testOrigin+37*testTick-3)
	if at, ok := w.Next(); !ok || at != testOrigin+37*testTick {
		t.Fatalf("Next() = %d, %v; want the boundary of a level-0 entry", at, ok)
	}
	w.Schedule(&os[0].Entry, testOrigin+5000*testTick) // level 1: cascade at tick 4096
	if at, ok := w.Next(); !ok || at != testOrigin+4096*testTick {
		t.Fatalf("Next() = %d, %v; want the cascade at tick 4096", at, ok)
	}
	w.Advance(testOrigin+4096*testTick, func(*Entry[*owner]) { t.Fatal("fired during a cascade") })
	if at, ok := w.Next(); !ok || at != testOrigin+4992*testTick {
		t.Fatalf("Next() = %d, %v; want the cascade at tick 4992", at, ok)
	}
	w.Schedule(&os[1].Entry, 0) // due
	if at, ok := w.Next(); !ok || at != testOrigin+4096*testTick {
		t.Fatalf("Next() = %d, %v; want the wheel's time with an entry due", at, ok)
	}
}

func TestAdvanceFromFirePanics(t *testing.T) {
	w := New[*owner](time.Duration(testTick), testOrigin)
	os := newOwners(2)
	w.Schedule(&os[0].Entry, testOrigin)
	w.Schedule(&os[1].Entry, testOrigin)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("nested Advance did not panic")
			}
		}()
		w.Advance(testOrigin, func(*Entry[*owner]) { w.Advance(testOrigin, func(*Entry[*owner]) {}) })
	}()
	// The wheel survives a panicking callback: the other entry still fires.
	if n := w.Advance(testOrigin, func(*Entry[*owner]) {}); n != 1 || w.Len() != 0 {
		t.Fatalf("after the panic: fired %d, Len %d; want 1, 0", n, w.Len())
	}
}

func TestNewPanicsOnBadTick(t *testing.T) {
	for _, tick := range []time.Duration{0, -time.Second} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("New(%v) did not panic", tick)
				}
			}()
			New[*owner](tick, 0)
		}()
	}
}

func TestZeroAllocs(t *testing.T) {
	w := New[*owner](time.Duration(testTick), testOrigin)
	os := newOwners(1000)
	now := testOrigin
	i := 0
	fire := func(e *Entry[*owner]) { w.Schedule(e, now+int64(e.Value.id)*testTick) }
	cases := []struct {
		name string
		f    func()
	}{
		{"Schedule", func() { w.Schedule(&os[i%1000].Entry, now+int64(i%5000)*testTick); i++ }},
		{"Cancel", func() { w.Cancel(&os[i%1000].Entry); i++ }},
		{"Advance", func() { now += testTick; w.Advance(now, fire) }},
	}
	for _, c := range cases {
		if a := testing.AllocsPerRun(1000, c.f); a != 0 {
			t.Errorf("%s: %v allocs/op, want 0", c.name, a)
		}
	}
}

// TestPanicDuringCascade panics in a callback while a level-1 slot is being
// cascaded; the entries left in that slot must still fire, in order, and
// never early, at the next Advance.
func TestPanicDuringCascade(t *testing.T) {
	w := New[*owner](time.Duration(testTick), testOrigin)
	os := newOwners(4)
	tk := func(n int64) int64 { return testOrigin + n*testTick }
	w.Schedule(&os[0].Entry, tk(64)) // level 1, slot 1: cascaded at tick 64
	w.Schedule(&os[1].Entry, tk(64))
	w.Schedule(&os[2].Entry, tk(70))
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("callback did not panic")
			}
		}()
		w.Advance(tk(64), func(*Entry[*owner]) { panic("boom") })
	}()
	if w.Len() != 2 {
		t.Fatalf("Len() = %d after the panic, want 2", w.Len())
	}
	w.Schedule(&os[3].Entry, tk(66))
	if got := collect(w, tk(64)); len(got) != 1 || got[0] > 1 {
		t.Fatalf("fired %v, want the other entry of tick 64", got)
	}
	if got := collect(w, tk(69)); !slices.Equal(got, []int{3}) {
		t.Fatalf("fired %v by tick 69, want [3]", got)
	}
	if got := collect(w, tk(70)); !slices.Equal(got, []int{2}) {
		t.Fatalf("fired %v at tick 70, want [2]", got)
	}
	if w.occupiedAny() {
		t.Fatal("wheel not empty")
	}
}

// TestFilingByDistance pins the level an entry is filed at: the lowest whose
// window of 63 buckets reaches it, whatever digit boundaries it crosses.
// (Digit-based filing passes every functional test but cascades whole
// populations at once; see the package doc.)
func TestFilingByDistance(t *testing.T) {
	cases := []struct {
		cur, ahead uint64 // ticks
		level      int
	}{
		{0, 1, 0}, {0, 63, 0}, {0, 64, 1},
		{63, 1, 0},          // crosses a 64 boundary: still level 0
		{10, 60, 0},         // bucket 60 ahead at level 0
		{10, 118, 1},        // E=128: bucket 2 ahead at level 1
		{4000, 3000, 1},     // a 30 s ping at 10 ms crossing 4096: level 1
		{10, 4090, 2},       // E=4100: bucket 64 ahead at level 1, so level 2
		{1 << 20, 30000, 2}, // a 5 min timeout at 10 ms
		{0, 1 << 63, 10},    // top level
		{5, 1<<64 - 6, 10},  // the last tick
	}
	for _, c := range cases {
		w := New[*owner](time.Duration(1), 0)
		w.cur = c.cur
		o := newOwners(1)[0]
		o.expires = c.cur + c.ahead // set directly: ticks past the int64 range
		w.link(&o.Entry)
		if lvl := int(o.where-1) / slotsPerLevel; lvl != c.level {
			t.Errorf("cur %d, %d ahead: filed at level %d, want %d", c.cur, c.ahead, lvl, c.level)
		}
	}
}
