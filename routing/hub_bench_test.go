package routing

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
)

// subscribeRealistic subscribes s the way wsbench's idle -subscribe personal,shared:2/100
// does: its own channel and two of 100 shared ones.
func subscribeRealistic(tb testing.TB, h *Hub, s *Session, i int) {
	tb.Helper()
	chans := [][]byte{
		[]byte("personal." + strconv.Itoa(i)),
		[]byte("shared." + strconv.Itoa(i%100)),
		[]byte("shared." + strconv.Itoa((i*7+13)%100)),
	}
	if string(chans[1]) == string(chans[2]) {
		chans[2] = []byte("shared." + strconv.Itoa((i+1)%100))
	}
	for _, ch := range chans {
		if err := h.Subscribe(s, ch); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkRealisticMemory reports the heap routing keeps per connection of issue 19's idle
// population (B/conn): the session, its registry entry, one personal channel and two of 100
// shared ones, and with ident=true an identity (a 9-byte user id, no info) and its place in
// the user index. 19,000 sessions, as in the RSS measurement.
func BenchmarkRealisticMemory(b *testing.B) {
	for _, ident := range []bool{false, true} {
		b.Run(fmt.Sprintf("ident=%v", ident), func(b *testing.B) {
			const n = 19000
			var per float64
			for b.Loop() {
				r := New(Options{Workers: 1})
				conn := &fakeConn{discard: true}
				ss := make([]*Session, n)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				for i := range ss {
					ss[i] = r.Open(conn)
					if ident {
						if err := r.Hub().SetIdentityUntil(ss[i], "user"+strconv.Itoa(10000+i), nil, 2000000000); err != nil {
							b.Fatal(err)
						}
					}
					subscribeRealistic(b, r.Hub(), ss[i], i)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				per = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(ss)
				r.Close()
			}
			b.ReportMetric(per, "B/conn")
		})
	}
}

// BenchmarkSubscribeUnsubscribe is one session, subscribed to two other channels, joining and
// leaving a channel that 1,000 others subscribe to (steady state: nothing to allocate), and
// (own) a channel of its own, which is created and dropped each time.
func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	for _, own := range []bool{false, true} {
		b.Run(fmt.Sprintf("own=%v", own), func(b *testing.B) {
			r := New(Options{Workers: 1})
			b.Cleanup(r.Close)
			h := r.Hub()
			ch := []byte("shared.busy")
			for i := range 1000 {
				s := r.Open(&fakeConn{discard: true})
				subscribeRealistic(b, h, s, i)
				if err := h.Subscribe(s, ch); err != nil {
					b.Fatal(err)
				}
			}
			s := r.Open(&fakeConn{discard: true})
			for _, c := range []string{"a", "b"} {
				if err := h.Subscribe(s, []byte(c)); err != nil {
					b.Fatal(err)
				}
			}
			if own {
				ch = []byte("personal.me")
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := h.Subscribe(s, ch); err != nil {
					b.Fatal(err)
				}
				if err := h.Unsubscribe(s, ch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRealisticMemoryBudget holds routing's share of issue 19's idle connection: the session,
// its registry slot, a personal channel and two of 100 shared ones stay within 280 bytes of
// heap (266 when written; 578 with per-channel maps), and an identity adds at most 72.
func TestRealisticMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("19,000 sessions")
	}
	for _, tc := range []struct {
		ident bool
		max   float64
	}{{false, 280}, {true, 280 + 72}} {
		const n = 19000
		r := New(Options{Workers: 1})
		conn := &fakeConn{discard: true}
		ss := make([]*Session, n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range ss {
			ss[i] = r.Open(conn)
			if tc.ident {
				if err := r.Hub().SetIdentity(ss[i], "user"+strconv.Itoa(10000+i), nil); err != nil {
					t.Fatal(err)
				}
			}
			subscribeRealistic(t, r.Hub(), ss[i], i)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(ss)
		r.Close()
		t.Logf("identity %v: %.1f B of heap per connection", tc.ident, per)
		if per > tc.max {
			t.Errorf("identity %v: %.1f B of heap per connection, budget %.0f", tc.ident, per, tc.max)
		}
	}
}
