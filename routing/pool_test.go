package routing

import "testing"

// TestRunQueueOrder: the run queue hands sessions back in the order they
// were pushed across growth, wrap-around and shrinking, and close returns
// those still queued, in order.
func TestRunQueueOrder(t *testing.T) {
	ss := make([]*Session, 5000)
	for i := range ss {
		ss[i] = &Session{id: uint64(i)}
	}
	for _, tc := range []struct {
		name      string
		push, pop []int // rounds: push[i] sessions, then pop[i]
	}{
		{"one at a time", []int{1, 1, 1}, []int{1, 1, 1}},
		{"wraps inside the first ring", []int{40, 40, 40}, []int{30, 40, 50}},
		{"grows while wrapped", []int{60, 60, 500}, []int{50, 60, 510}},
		{"a burst shrinks back", []int{4000, 10, 0}, []int{3990, 15, 5}},
		{"left queued at close", []int{300, 200}, []int{100, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q runQueue
			q.init()
			next, want := 0, 0
			for i := range tc.push {
				for range tc.push[i] {
					if !q.push(ss[next]) {
						t.Fatal("push refused before close")
					}
					next++
				}
				for range tc.pop[i] {
					if got := q.pop(); got != ss[want] {
						t.Fatalf("round %d: popped session %d, want %d", i, got.id, want)
					}
					want++
				}
			}
			if len(q.ring) > 2*max(minRing, q.n) && len(q.ring) > minRing {
				t.Errorf("ring of %d kept for %d queued sessions", len(q.ring), q.n)
			}
			left := q.close()
			if len(left) != next-want {
				t.Fatalf("close handed back %d sessions, want %d", len(left), next-want)
			}
			for i, s := range left {
				if s != ss[want+i] {
					t.Fatalf("left[%d] is session %d, want %d", i, s.id, want+i)
				}
			}
			if q.push(ss[0]) || q.pop() != nil {
				t.Fatal("the queue works after close")
			}
		})
	}
}
