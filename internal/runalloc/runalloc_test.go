package runalloc

import (
	"testing"
	"unsafe"
)

type obj struct {
	n int
	_ [3]uint64 // 32 bytes in all
}

func TestRunLen(t *testing.T) {
	for _, c := range []struct{ live, most, want int }{
		{0, 100, 1},      // an empty owner: one at a time, like new
		{15, 100, 1},     // small populations hold nothing back
		{160, 100, 10},   // a sixteenth of the population
		{9500, 454, 454}, // capped at eight spans' worth
		{9500, 1, 1},
	} {
		if got := RunLen(c.live, c.most); got != c.want {
			t.Errorf("RunLen(%d, %d) = %d, want %d", c.live, c.most, got, c.want)
		}
	}
}

// A Reserve hands out distinct zeroed objects, keeps no more than one run
// and no reference to what it handed out.
func TestReserve(t *testing.T) {
	r := New(unsafe.Sizeof(obj{}), Fill[obj])
	if r.max != spanBytes/32 {
		t.Fatalf("max run %d, want %d (eight spans of 32-byte objects)", r.max, spanBytes/32)
	}
	seen := map[*obj]bool{}
	for i := range 5000 {
		o := r.Get(i)
		if seen[o] {
			t.Fatalf("object %p handed out twice", o)
		}
		if *o != (obj{}) {
			t.Fatalf("object %d not zero: %+v", i, *o)
		}
		seen[o] = true
		o.n = i // the caller's to use
		if w := RunLen(i, r.max); r.Len() >= w {
			t.Fatalf("after %d: %d wait in the reserve, a run at that population is %d", i, r.Len(), w)
		}
		for _, s := range r.spare[len(r.spare):cap(r.spare)] {
			if s != nil {
				t.Fatalf("the reserve still points at an object it handed out")
			}
		}
	}
	// The population shrank: the next run is small again.
	for r.Len() > 0 {
		r.Get(0)
	}
	r.Get(16)
	if r.Len() != 0 {
		t.Fatalf("a run for 16 live objects left %d in the reserve, want 0", r.Len())
	}
}

// Getting from a reserve allocates only when a run starts: per object
// that is the run's allocation, amortized.
func BenchmarkGet(b *testing.B) {
	r := New(unsafe.Sizeof(obj{}), Fill[obj])
	keep := make([]*obj, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if len(keep) == cap(keep) {
			keep = keep[:0]
		}
		keep = append(keep, r.Get(1<<20))
	}
}
