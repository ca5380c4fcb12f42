package timerwheel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// benchConn stands for a connection that embeds its timer and nothing else,
// so the figures are the timer's own cost.
type benchConn struct {
	Entry[*benchConn]
}

const benchTick = 10 * time.Millisecond

// spreadDeadlines returns n deadlines spread over [from, from+span) after
// now: random, so entries land in many slots.
func spreadDeadlines(n int, now int64, from, span time.Duration, seed uint64) []int64 {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	ats := make([]int64, n)
	for i := range ats {
		ats[i] = now + int64(from) + rng.Int64N(int64(span))
	}
	return ats
}

func newBenchConns(n int) []*benchConn {
	cs := make([]*benchConn, n)
	for i := range cs {
		c := &benchConn{}
		c.Value = c
		cs[i] = c
	}
	return cs
}

// BenchmarkMemory1M reports the heap bytes per entry for 1,000,000
// separately allocated owners that embed an Entry, scheduled in one wheel
// (wheel included). Owners hold nothing else, so this is the timer's cost.
func BenchmarkMemory1M(b *testing.B) {
	const n = 1_000_000
	ats := spreadDeadlines(n, 0, 0, 5*time.Minute, 1)
	var perEntry float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w := New[*benchConn](benchTick, 0)
		cs := newBenchConns(n)
		for i, c := range cs {
			w.Schedule(&c.Entry, ats[i])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		// The slice of pointers is the test's, not the wheel's: subtract it.
		perEntry = (float64(after.HeapAlloc-before.HeapAlloc) - float64(8*n)) / n
		runtime.KeepAlive(cs)
		runtime.KeepAlive(w)
	}
	b.ReportMetric(perEntry, "B/entry")
}

// BenchmarkAdvanceIdle advances one tick at a time over a wheel holding n
// entries none of which is due during the run (they sit a year ahead, so no
// cascade either): the per-tick cost must not depend on n.
func BenchmarkAdvanceIdle(b *testing.B) {
	for _, n := range []int{1e3, 1e5, 1e6} {
		b.Run(fmt.Sprint("N=", n), func(b *testing.B) {
			w := New[*benchConn](benchTick, 0)
			ats := spreadDeadlines(n, 0, 365*24*time.Hour, 365*24*time.Hour, 2)
			for i, c := range newBenchConns(n) {
				w.Schedule(&c.Entry, ats[i])
			}
			fire := func(*Entry[*benchConn]) { b.Fatal("fired") }
			now := int64(0)
			b.ResetTimer()
			for b.Loop() {
				now += int64(benchTick)
				w.Advance(now, fire)
			}
		})
	}
}

// BenchmarkAdvanceHeartbeat is the steady state of a loop: n connections
// with a 30 s ping re-armed on firing and a 5 min idle timeout; each op is
// one 10 ms tick, firing, re-arming and cascading included.
func BenchmarkAdvanceHeartbeat(b *testing.B) {
	for _, n := range []int{1e3, 1e5, 1e6} {
		b.Run(fmt.Sprint("N=", n), func(b *testing.B) {
			w := New[*benchConn](benchTick, 0)
			ats := spreadDeadlines(n, 0, 0, 30*time.Second, 3)
			for i, c := range newBenchConns(n) {
				w.Schedule(&c.Entry, ats[i])
			}
			now := int64(0)
			fire := func(e *Entry[*benchConn]) { w.Schedule(e, now+int64(30*time.Second)) }
			fired := 0
			b.ResetTimer()
			for b.Loop() {
				now += int64(benchTick)
				fired += w.Advance(now, fire)
			}
			b.ReportMetric(float64(fired)/float64(b.N), "fired/op")
		})
	}
}

// benchWheel1M is a wheel with 1,000,000 entries scheduled over 5 minutes,
// and a table of deadlines in that range to schedule with.
func benchWheel1M(b *testing.B) (*Wheel[*benchConn], []*benchConn, []int64) {
	const n = 1_000_000
	w := New[*benchConn](benchTick, 0)
	cs := newBenchConns(n)
	ats := spreadDeadlines(n, 0, 0, 5*time.Minute, 4)
	for i, c := range cs {
		w.Schedule(&c.Entry, ats[i])
	}
	return w, cs, spreadDeadlines(1<<16, 0, 0, 5*time.Minute, 5)
}

// BenchmarkSchedule schedules entries that are not yet in a wheel that
// holds 1M others.
func BenchmarkSchedule(b *testing.B) {
	w, _, ats := benchWheel1M(b)
	extra := newBenchConns(1 << 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i & (1<<16 - 1)
		if j == 0 && i > 0 {
			b.StopTimer()
			for _, c := range extra {
				w.Cancel(&c.Entry)
			}
			b.StartTimer()
		}
		w.Schedule(&extra[j].Entry, ats[j])
	}
}

// BenchmarkReset moves already scheduled entries of a 1M wheel to a new
// deadline, as activity on a connection does.
func BenchmarkReset(b *testing.B) {
	w, cs, ats := benchWheel1M(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Schedule(&cs[i%len(cs)].Entry, ats[i&(1<<16-1)])
	}
}

// BenchmarkCancel cancels entries of a 1M wheel.
func BenchmarkCancel(b *testing.B) {
	w, cs, ats := benchWheel1M(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(cs)
		if j == 0 && i > 0 {
			b.StopTimer()
			for k, c := range cs {
				w.Schedule(&c.Entry, ats[k&(1<<16-1)])
			}
			b.StartTimer()
		}
		w.Cancel(&cs[j].Entry)
	}
}
