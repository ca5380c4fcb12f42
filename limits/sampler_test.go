package limits

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSampler(t *testing.T) {
	s := NewSampler(3)
	now := int64(10 * time.Second)
	logged := 0
	for range 100 {
		if ok, n := s.Allow(kindA, now); ok {
			logged++
			if n != 0 {
				t.Fatalf("suppressed %d in the first second", n)
			}
		}
	}
	if logged != 3 {
		t.Fatalf("logged %d, want 3", logged)
	}
	// Another reason has its own budget.
	if ok, _ := s.Allow(kindB, now); !ok {
		t.Fatal("origin shares ip_rate's budget")
	}
	// Next second: the first line carries the 97 suppressed.
	now += int64(time.Second)
	if ok, n := s.Allow(kindA, now); !ok || n != 97 {
		t.Fatalf("next second: ok=%v suppressed=%d, want true, 97", ok, n)
	}
	for range 10 {
		s.Allow(kindA, now)
	}
	if n := s.TakeSuppressed(kindA); n != 8 {
		t.Fatalf("TakeSuppressed = %d, want 8", n)
	}
	if n := s.TakeSuppressed(kindA); n != 0 {
		t.Fatalf("TakeSuppressed again = %d", n)
	}
	// Unknown reasons share a slot and still work.
	if ok, _ := s.Allow(SamplerKinds+5, now); !ok {
		t.Fatal("unknown reason")
	}
	// Off and nil log everything.
	for _, off := range []*Sampler{nil, NewSampler(0)} {
		for range 10 {
			if ok, _ := off.Allow(kindA, now); !ok {
				t.Fatal("off sampler dropped a line")
			}
		}
	}
}

func TestSamplerConcurrent(t *testing.T) {
	s := NewSampler(5)
	var logged, suppressed atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 10000 {
				now := int64(i/1000) * int64(time.Second) // 10 seconds
				if ok, n := s.Allow(kindA, now); ok {
					logged.Add(1)
					suppressed.Add(int64(n))
				}
			}
		})
	}
	wg.Wait()
	total := logged.Load() + suppressed.Load() + int64(s.TakeSuppressed(kindA))
	if total != 40000 {
		t.Fatalf("logged+suppressed = %d, want every one of 40000 counted", total)
	}
	// At most 5 lines in each of the 10 seconds, although the goroutines
	// drift across second boundaries.
	if l := logged.Load(); l < 10 || l > 10*5 {
		t.Fatalf("logged %d", l)
	}
}

func TestSamplerNoAlloc(t *testing.T) {
	s := NewSampler(1)
	if n := testing.AllocsPerRun(1000, func() { s.Allow(kindB, 0) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// Two kinds of lines, each with its own budget.
const (
	kindA = 3
	kindB = 7
)
