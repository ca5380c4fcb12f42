package routing

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"
)

// An idle session stays small: very many of them live on one node (issue 19 budgets the whole
// /ws connection at 512 bytes with three subscriptions).
func TestSessionSize(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, max uintptr
		why       string
	}{
		{"Session", unsafe.Sizeof(Session{}), 80, "a size class (rare state goes to sessionExtra; the run queue is a ring, not a link in each session; the client address is the Conn's)"},
		{"topic", unsafe.Sizeof(topic{}), 32, "one per channel: a personal channel each connection"},
		{"subChunk", unsafe.Sizeof(subChunk{}), 48, "a size class holding the common one to three subscriptions"},
	} {
		if tc.size > tc.max {
			t.Errorf("%s is %d bytes; keep it at most %d, %s", tc.name, tc.size, tc.max, tc.why)
		}
	}
}

// BenchmarkSessionMemory reports the heap a session costs, registry and hub included, idle and
// with three subscriptions to channels that many sessions share (B/session).
func BenchmarkSessionMemory(b *testing.B) {
	for _, subs := range []int{0, 3} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			const n = 20000
			var perSession float64
			for b.Loop() {
				r := New(Options{Workers: 1})
				conn := &fakeConn{discard: true}
				ss := make([]*Session, n)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				for i := range ss {
					ss[i] = r.Open(conn)
					for c := range subs {
						if err := r.Hub().Subscribe(ss[i], []byte{'c', byte('0' + c)}); err != nil {
							b.Fatal(err)
						}
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perSession = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(ss)
				r.Close()
			}
			b.ReportMetric(perSession, "B/session")
		})
	}
}

// A new channel's topic carries its name in its own allocation, whatever its length (up to
// the 255 a length byte holds): one object per channel, 32 bytes for a name of up to 15 bytes
// (a personal channel's), and the name reads back whole.
func TestNewTopicName(t *testing.T) {
	for _, tc := range []struct{ n, size int }{
		{0, 32}, {1, 32}, {14, 32}, {15, 32}, {16, 48}, {31, 48}, {32, 64}, {47, 64}, {48, 80},
		{63, 80}, {64, 96}, {79, 96}, {80, 112}, {95, 112}, {96, 128}, {111, 128}, {112, 144},
		{127, 144}, {MaxChannelLen, 160}, {143, 160}, {144, 192}, {175, 192}, {176, 224}, {208, 256},
		{239, 256}, {240, 288}, {255, 288},
	} {
		name := make([]byte, tc.n)
		for i := range name {
			name[i] = byte('a' + i%26)
		}
		want := string(name)
		tp := newTopic(name)
		if tc.n > 0 {
			name[0] = '!' // the topic holds a copy
		}
		if tp.name() != want || tp.c != 1 || tp.n != 0 {
			t.Errorf("len %d: topic name %q c %d n %d, want %q c 1 n 0", tc.n, tp.name(), tp.c, tp.n, want)
		}
		copy(name, want)
		allocs := testing.AllocsPerRun(20, func() { tp = newTopic(name) })
		if allocs != 1 {
			t.Errorf("len %d: %v allocations for a new topic, want 1 (name inside the topic)", tc.n, allocs)
		}
		if per := bytesEach(func() any { return newTopic(name) }); per < tc.size || per >= tc.size+8 {
			t.Errorf("len %d: %d bytes a topic, want %d", tc.n, per, tc.size)
		}
	}
}

// bytesEach is the heap bytes one call of alloc takes, from the heap's count over many calls
// whose results are kept. Other goroutines may allocate meanwhile: a few bytes on top are
// theirs (callers allow for them; the next size class is 16 bytes or more away).
func bytesEach(alloc func() any) int {
	const many = 1000
	keep := make([]any, many)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range keep {
		keep[i] = alloc()
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	// keep's elements hold pointers: an interface of a pointer allocates nothing more.
	return int(after.TotalAlloc-before.TotalAlloc) / many
}
