package routing

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

type tkey struct{ k uint64 }

// The table against a map, with hashes that collide a lot (long probe runs across the wrap,
// backward-shift deletion moving entries) and with well-spread ones, through growth and
// shrinking.
func TestPtrTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		hash func(uint64) uint64
	}{
		{"spread", mix},
		{"8 hashes", func(k uint64) uint64 { return mix(k % 8) }},
		{"one hash", func(uint64) uint64 { return 1 << 63 }},
		{"high slots", func(k uint64) uint64 { return ^uint64(0) - k%3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tab ptrTable[tkey]
			hash := func(e *tkey) uint64 { return tc.hash(e.k) }
			model := map[uint64]*tkey{}
			rng := rand.New(rand.NewPCG(1, 2))
			check := func(step int) {
				t.Helper()
				if tab.n != len(model) {
					t.Fatalf("step %d: n %d, model %d", step, tab.n, len(model))
				}
				for k, e := range model {
					if got := tab.get(tc.hash(k), func(x *tkey) bool { return x.k == k }); got != e {
						t.Fatalf("step %d: get(%d) = %v, want %v", step, k, got, e)
					}
				}
				seen := 0
				tab.each(func(e *tkey) bool {
					if model[e.k] != e {
						t.Fatalf("step %d: each gave %d, not in the model", step, e.k)
					}
					seen++
					return true
				})
				if seen != len(model) {
					t.Fatalf("step %d: each saw %d of %d", step, seen, len(model))
				}
			}
			for step := range 3000 {
				k := uint64(rng.IntN(200))
				if e, ok := model[k]; ok {
					if !tab.remove(tc.hash(k), e, hash) {
						t.Fatalf("step %d: remove(%d) = false", step, k)
					}
					delete(model, k)
				} else {
					e := &tkey{k}
					tab.insert(tc.hash(k), e, hash)
					model[k] = e
				}
				if step%97 == 0 {
					check(step)
				}
				// Absent keys: not found, and not removed.
				if tab.get(tc.hash(1000), func(x *tkey) bool { return x.k == 1000 }) != nil || tab.remove(tc.hash(1000), &tkey{1000}, hash) {
					t.Fatalf("step %d: an absent key was found", step)
				}
			}
			check(3000)
			for k, e := range model { // empty it: it shrinks back
				tab.remove(tc.hash(k), e, hash)
			}
			if tab.n != 0 || len(tab.slots) != minTableSlots {
				t.Fatalf("emptied: n %d, %d slots", tab.n, len(tab.slots))
			}
		})
	}
}

// checkSlots verifies the index: every subscriber of every channel has a record of it whose
// slot is its place in the channel's array, every record is such a subscription, and the
// array's tail past its length is clear.
func checkSlots(t *testing.T, r *Router) {
	t.Helper()
	h := r.Hub()
	records := 0
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		sh.topics.each(func(tp *topic) bool {
			if tp.n == 0 {
				t.Errorf("channel %s is empty but indexed", tp.name())
			}
			for k, s := range tp.list() {
				c, ci := s.findSub(tp)
				if c == nil || c.slot[ci] != uint32(k) {
					t.Errorf("channel %s: session %d at slot %d has no record of it, or a wrong slot", tp.name(), s.id, k)
				}
			}
			for _, s := range tp.all()[tp.n:] {
				if s != nil {
					t.Errorf("channel %s: a session past the end of the array", tp.name())
				}
			}
			records += int(tp.n)
			return true
		})
		sh.mu.RUnlock()
	}
	n := 0
	r.Registry().Range(func(s *Session) bool {
		s.eachSub(func(tp *topic) {
			n++
			if h.Subscribers(tp.name()) == 0 {
				t.Errorf("session %d has a record of %s, which has no subscribers", s.id, tp.name())
			}
		})
		return true
	})
	if n != records {
		t.Errorf("%d records in sessions, %d subscriptions in channels", n, records)
	}
}

// Random subscribes, unsubscribes and closes against a model: each session's channels, each
// channel's subscriber count, and the slots agree after every batch.
func TestSubscriptionIndex(t *testing.T) {
	r := New(Options{Workers: 1})
	defer r.Close()
	h := r.Hub()
	rng := rand.New(rand.NewPCG(3, 4))
	var open []*Session
	model := map[*Session]map[string]bool{}
	for step := range 4000 {
		switch op := rng.IntN(10); {
		case op == 0 || len(open) < 5:
			s := r.Open(&fakeConn{discard: true})
			open = append(open, s)
			model[s] = map[string]bool{}
		case op == 1:
			i := rng.IntN(len(open))
			s := open[i]
			r.Closed(s)
			open[i] = open[len(open)-1]
			open = open[:len(open)-1]
			delete(model, s)
		default:
			s := open[rng.IntN(len(open))]
			ch := "c" + strconv.Itoa(rng.IntN(12))
			if rng.IntN(2) == 0 {
				added, err := h.SubscribeNotice(s, []byte(ch), nil)
				if err != nil || added == model[s][ch] {
					t.Fatalf("step %d: subscribe %s: added %v, err %v; subscribed before: %v", step, ch, added, err, model[s][ch])
				}
				model[s][ch] = true
			} else {
				removed, err := h.UnsubscribeNotice(s, []byte(ch), nil)
				if err != nil || removed != model[s][ch] {
					t.Fatalf("step %d: unsubscribe %s: removed %v, err %v; subscribed before: %v", step, ch, removed, err, model[s][ch])
				}
				delete(model[s], ch)
			}
		}
		if step%50 == 0 {
			if step%100 == 0 {
				h.Compact() // moves arrays, keeping every record's slot
			}
			checkSlots(t, r)
			counts := map[string]int{}
			for s, chans := range model {
				if s.NumChannels() != len(chans) {
					t.Fatalf("step %d: session %d has %d channels, want %d", step, s.id, s.NumChannels(), len(chans))
				}
				for ch := range chans {
					counts[ch]++
					if !s.Subscribed([]byte(ch)) {
						t.Fatalf("step %d: session %d not subscribed to %s", step, s.id, ch)
					}
				}
			}
			for i := range 12 {
				ch := "c" + strconv.Itoa(i)
				if got := h.Subscribers(ch); got != counts[ch] {
					t.Fatalf("step %d: %s has %d subscribers, want %d", step, ch, got, counts[ch])
				}
			}
		}
	}
}

// Sessions subscribing, unsubscribing and closing concurrently on shared channels (moving
// each other in the arrays) leave a consistent index, and every channel empty once all
// closed. Run with -race.
func TestSubscriptionIndexConcurrent(t *testing.T) {
	r := New(Options{Workers: 1})
	defer r.Close()
	h := r.Hub()
	var mu sync.Mutex
	net := map[string]int{} // joins minus leaves, from the membership hook
	h.OnMembership(func(s *Session, ch string, joined bool) {
		mu.Lock()
		if joined {
			net[ch]++
		} else {
			net[ch]--
		}
		mu.Unlock()
	})
	var wg sync.WaitGroup
	sessions := make([][]*Session, 8)
	for g := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			var mine []*Session
			for range 400 {
				s := r.Open(&fakeConn{discard: true})
				mine = append(mine, s)
				for range 1 + rng.IntN(5) {
					_ = h.Subscribe(s, []byte(fmt.Sprintf("c%d", rng.IntN(6))))
				}
				if rng.IntN(3) == 0 {
					_ = h.Unsubscribe(mine[rng.IntN(len(mine))], []byte(fmt.Sprintf("c%d", rng.IntN(6))))
				}
				if rng.IntN(4) == 0 {
					victim := mine[rng.IntN(len(mine))]
					// Close and unsubscribe race on the same session's records.
					done := make(chan struct{})
					go func() { _ = h.Unsubscribe(victim, []byte("c0")); close(done) }()
					r.Closed(victim)
					<-done
				}
			}
			sessions[g] = mine
		}()
	}
	stop := make(chan struct{})
	compacted := make(chan struct{})
	go func() { // Compact races with all of it
		defer close(compacted)
		for {
			select {
			case <-stop:
				return
			default:
				h.Compact()
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-compacted
	checkSlots(t, r)
	for _, mine := range sessions {
		for _, s := range mine {
			r.Closed(s)
		}
	}
	checkSlots(t, r)
	n := 0
	h.Channels(func(string, int) bool { n++; return true })
	if n != 0 {
		t.Fatalf("%d channels left after every session closed", n)
	}
	for ch, v := range net {
		if v != 0 {
			t.Errorf("%s: %d more joins than leaves", ch, v)
		}
	}
}

// TestTableSizeClass: a table's slot array fills its size class. The runtime
// puts an 8-byte header before a pointer-holding object over 512 bytes, so
// a power of two of slots past 64 would take the next class up (512 slots:
// 4,864 bytes); one slot less takes the class exactly.
func TestTableSizeClass(t *testing.T) {
	for _, c := range []struct{ size, slots, bytes int }{
		{8, 8, 64},
		{64, 64, 512},
		{128, 127, 1024},
		{512, 511, 4096},
		{1024, 1023, 8192},
	} {
		var tab ptrTable[tkey]
		tab.resize(c.size, nil)
		if len(tab.slots) != c.slots {
			t.Errorf("nominal size %d: %d slots, want %d", c.size, len(tab.slots), c.slots)
		}
		const n = 64
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range n {
			tab.resize(c.size, nil)
		}
		runtime.ReadMemStats(&after)
		if got := int(after.TotalAlloc-before.TotalAlloc) / n; got < c.bytes || got > c.bytes+64 {
			t.Errorf("nominal size %d: %d bytes a table, want %d", c.size, got, c.bytes)
		}
	}
}

// TestCompact: after a burst of subscriptions a channel's array holds only
// what its size class needs, and every subscriber is still there, in its
// slot: publishes reach them all and unsubscribes find them.
func TestCompact(t *testing.T) {
	r := New(Options{Workers: 1})
	defer r.Close()
	h := r.Hub()
	var subs []*Session
	for range 380 {
		s := r.Open(&fakeConn{discard: true})
		if err := h.Subscribe(s, []byte("big")); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	small := r.Open(&fakeConn{discard: true})
	_ = h.Subscribe(small, []byte("small")) // one subscriber: inside the topic, nothing to move
	capOf := func(ch string) uint32 {
		sh, hash := h.shardOf(ch)
		sh.mu.RLock()
		defer sh.mu.RUnlock()
		return sh.topics.get(hash, func(t *topic) bool { return t.name() == ch }).c
	}
	before := capOf("big")
	if moved := h.Compact(); moved != 1 {
		t.Fatalf("Compact moved %d arrays, want 1 (380 subscribers in an array of %d)", moved, before)
	}
	after := capOf("big")
	if after >= before || after < 380 || after > 384 {
		t.Fatalf("array of %d for 380 subscribers after Compact (%d before), want the 3,072-byte class's 383", after, before)
	}
	if moved := h.Compact(); moved != 0 {
		t.Fatalf("a second Compact moved %d arrays", moved)
	}
	checkSlots(t, r)
	if got := len(h.channelSnapshot(nil, "big")); got != 380 {
		t.Fatalf("%d receivers of big after Compact, want 380", got)
	}
	for i, s := range subs {
		if i%2 == 0 {
			if removed, err := h.UnsubscribeNotice(s, []byte("big"), nil); !removed || err != nil {
				t.Fatalf("unsubscribe %d after Compact: removed %v, %v", i, removed, err)
			}
		}
	}
	checkSlots(t, r)
	if got := h.Subscribers("big"); got != 190 {
		t.Fatalf("%d subscribers left, want 190", got)
	}
}
