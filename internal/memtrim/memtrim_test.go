package memtrim

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fake drives a Trimmer's checks with a clock, an activity counter and a
// retained-memory figure the test sets.
type fake struct {
	now      time.Time
	activity uint64
	retained uint64
	trims    int
}

func (f *fake) trimmer(after time.Duration, growth uint64) *Trimmer {
	t := New(Config{
		After: after, MinGrowth: growth,
		Activity: func() uint64 { return f.activity },
		Trimmed:  func(before, after uint64) { f.trims++ },
	})
	t.now = func() time.Time { return f.now }
	// A trim gives back everything above 10 MiB.
	t.read = func() uint64 { return f.retained }
	return t
}

func TestCheck(t *testing.T) {
	const MiB = 1 << 20
	type step struct {
		advance  time.Duration
		activity uint64 // added to the counter
		retained uint64 // the figure from now on (0: unchanged)
		trim     bool   // expected of this check
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"grown and quiet: one trim, then none until it grows again", []step{
			{retained: 30 * MiB},
			{advance: 500 * time.Millisecond},
			{advance: 600 * time.Millisecond, trim: true},
			{advance: 2 * time.Second},
			{advance: 2 * time.Second},
		}},
		{"activity postpones the trim", []step{
			{retained: 30 * MiB},
			{advance: 900 * time.Millisecond, activity: 5},
			{advance: 900 * time.Millisecond, activity: 5},
			{advance: 900 * time.Millisecond},
			{advance: 200 * time.Millisecond, trim: true},
		}},
		{"not grown enough: no trim", []step{
			{retained: 13 * MiB},
			{advance: 5 * time.Second},
			{advance: 5 * time.Second},
		}},
		{"growth counts from the low point", []step{
			{retained: 6 * MiB}, // the scavenger returned some on its own
			{advance: 2 * time.Second},
			{retained: 11 * MiB, advance: time.Second, trim: true},
		}},
		{"a second burst trims again, not sooner than After after the first", []step{
			{retained: 30 * MiB},
			{advance: 1100 * time.Millisecond, trim: true},
			{retained: 40 * MiB, advance: 100 * time.Millisecond, activity: 1},
			{advance: 1100 * time.Millisecond, trim: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{now: time.Unix(1000, 0), retained: 10 * MiB}
			tr := f.trimmer(time.Second, 4*MiB)
			st := tr.start()
			for i, s := range tc.steps {
				f.now = f.now.Add(s.advance)
				f.activity += s.activity
				if s.retained != 0 {
					f.retained = s.retained
				}
				before := f.trims
				got := tr.check(&st)
				if got != s.trim || f.trims-before != map[bool]int{false: 0, true: 1}[s.trim] {
					t.Fatalf("step %d: trimmed %v (callbacks %d), want %v", i, got, f.trims-before, s.trim)
				}
				if got {
					f.retained = 10 * MiB // what the trim gave back
					st.base = f.retained
				}
			}
		})
	}
}

// sink keeps the garbage reachable until the test drops it.
var sink [][]byte

// TestRunReturnsMemory lets a real Trimmer watch this process: after a burst
// of garbage and a quiet counter it trims once, and the memory the runtime
// retains falls by most of the burst.
func TestRunReturnsMemory(t *testing.T) {
	const burst = 64 << 20
	runtime.GC()
	type trim struct{ before, after uint64 }
	trims := make(chan trim, 4)
	var activity atomic.Uint64
	watching := make(chan struct{})
	var once sync.Once
	tr := New(Config{
		After: 50 * time.Millisecond, MinGrowth: burst / 2,
		Activity: func() uint64 { once.Do(func() { close(watching) }); return activity.Load() },
		Trimmed:  func(before, after uint64) { trims <- trim{before, after} },
	})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { tr.Run(stop); close(done) }()
	defer func() { close(stop); <-done }()

	<-watching // Run has read the memory before the burst
	for i := 0; i < burst/4096; i++ {
		sink = append(sink, make([]byte, 4096))
		activity.Add(1)
	}
	sink = nil
	grown := Retained()

	select {
	case got := <-trims:
		if got.before < got.after+burst/2 {
			t.Fatalf("retained %d B before the trim, %d after: less than half the %d B burst returned", got.before, got.after, burst)
		}
		if r := Retained(); r > grown-burst/2 {
			t.Fatalf("retained %d B after the trim, %d before: the burst was not returned", r, grown)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no trim within 10 s of a %d B burst (retained %d B)", burst, Retained())
	}
	select {
	case got := <-trims:
		t.Fatalf("a second trim without a new burst: %+v", got)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestDisabled(t *testing.T) {
	done := make(chan struct{})
	go func() {
		New(Config{Activity: func() uint64 { return 0 }}).Run(make(chan struct{}))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run with After 0 did not return")
	}
}

// TestTrimFreesPooled: what a burst left in a sync.Pool (buffers, decoder
// states) goes too, and so does what Before (the server's Hub.Compact) let
// go. A pool keeps its objects across one GC (its victim cache), so a trim
// of one forced GC would keep them, and the spans they sit in, resident.
func TestTrimFreesPooled(t *testing.T) {
	f := &fake{now: time.Unix(1000, 0), retained: 10 << 20}
	tr := f.trimmer(time.Second, 1<<20)
	st := tr.start()

	// Several buffers: with the race detector a Put drops one in four.
	const n = 8
	var pool sync.Pool
	freed := make(chan int, n)
	calls := 0
	tr.cfg.Before = func() { // lets go of the buffers: the trim's GCs come after
		calls++
		for i := range n {
			buf := make([]byte, 64<<10)
			runtime.AddCleanup(&buf[0], func(i int) { freed <- i }, i)
			pool.Put(&buf)
		}
	}

	f.retained += 2 << 20
	f.now = f.now.Add(2 * time.Second)
	if !tr.check(&st) {
		t.Fatal("no trim after the growth and a quiet second")
	}
	if calls != 1 {
		t.Fatalf("Before ran %d times in one trim", calls)
	}
	timeout := time.After(5 * time.Second)
	for range n {
		select {
		case <-freed:
		case <-timeout:
			t.Fatal("buffers left in a pool were not freed by the trim")
		}
	}
	runtime.KeepAlive(&pool)
}
