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

// A new channel's topic carries a name of up to 48 bytes in its own allocation: one object per
// personal channel, and the name reads back whole whatever its length.
func TestNewTopicName(t *testing.T) {
	for _, n := range []int{1, 14, 16, 17, 32, 33, 48, 49, 200} {
		name := make([]byte, n)
		for i := range name {
			name[i] = byte('a' + i%26)
		}
		want := string(name)
		tp := newTopic(name)
		name[0] = '!' // the topic holds a copy
		if tp.name != want || tp.c != 1 || tp.n != 0 {
			t.Errorf("len %d: topic name %q c %d n %d, want %q c 1 n 0", n, tp.name, tp.c, tp.n, want)
		}
		name[0] = want[0]
		allocs := testing.AllocsPerRun(20, func() { tp = newTopic(name) })
		if allocs != 1 && n <= 48 {
			t.Errorf("len %d: %v allocations for a new topic, want 1 (name inside the topic)", n, allocs)
		}
	}
}
