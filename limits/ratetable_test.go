package limits

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable monotonic clock in nanoseconds.
type fakeClock struct {
	mu  sync.Mutex
	now int64
}

func (c *fakeClock) Now() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now += int64(d)
	c.mu.Unlock()
}

func v4(i uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], i)
	return netip.AddrFrom4(b)
}

func TestRateTableBurstRefillRetryAfter(t *testing.T) {
	clk := &fakeClock{now: 1e12}
	rt := NewRateTable(RateConfig{PerMinute: 60, Burst: 3, Now: clk.Now}) // 1 token/s
	ip := netip.MustParseAddr("192.0.2.1")
	for i := range 3 {
		if ok, _ := rt.Allow(ip); !ok {
			t.Fatalf("burst connection %d refused", i)
		}
	}
	ok, ra := rt.Allow(ip)
	if ok || ra != time.Second {
		t.Fatalf("4th: ok=%v retryAfter=%v, want refused, 1s", ok, ra)
	}
	// Refusals do not spend tokens or push the wait out.
	for range 5 {
		rt.Allow(ip)
	}
	clk.Add(999 * time.Millisecond)
	if ok, ra := rt.Allow(ip); ok || ra != time.Second {
		t.Fatalf("after 999ms: ok=%v ra=%v, want refused, 1s (rounded up)", ok, ra)
	}
	clk.Add(time.Millisecond)
	if ok, _ := rt.Allow(ip); !ok {
		t.Fatal("after 1s a token should be back")
	}
	if ok, _ := rt.Allow(ip); ok {
		t.Fatal("only one token came back")
	}
	// Another address is independent.
	if ok, _ := rt.Allow(netip.MustParseAddr("192.0.2.2")); !ok {
		t.Fatal("other address refused")
	}
	// A long idle refills to the burst, not beyond.
	clk.Add(time.Hour)
	for i := range 3 {
		if ok, _ := rt.Allow(ip); !ok {
			t.Fatalf("after idle, burst %d refused", i)
		}
	}
	if ok, _ := rt.Allow(ip); ok {
		t.Fatal("refill went past the burst")
	}
}

func TestRateTableRetryAfterSlowRate(t *testing.T) {
	clk := &fakeClock{}
	rt := NewRateTable(RateConfig{PerMinute: 2, Burst: 1, Now: clk.Now}) // 1 token / 30s
	ip := netip.MustParseAddr("2001:db8::1")
	if ok, _ := rt.Allow(ip); !ok {
		t.Fatal("first refused")
	}
	clk.Add(10*time.Second + time.Millisecond)
	if ok, ra := rt.Allow(ip); ok || ra != 20*time.Second {
		t.Fatalf("ok=%v ra=%v, want 20s", ok, ra)
	}
	// Same /64: same bucket.
	if ok, _ := rt.Allow(netip.MustParseAddr("2001:db8::ffff:1")); ok {
		t.Fatal("another address in the same /64 has its own bucket")
	}
	if ok, _ := rt.Allow(netip.MustParseAddr("2001:db8:0:1::1")); !ok {
		t.Fatal("another /64 shares the bucket")
	}
}

func TestRateTableBurstBelowOneAndOff(t *testing.T) {
	clk := &fakeClock{}
	rt := NewRateTable(RateConfig{PerMinute: 60, Burst: 0, Now: clk.Now})
	ip := netip.MustParseAddr("192.0.2.1")
	if ok, _ := rt.Allow(ip); !ok {
		t.Fatal("burst 0 acts as 1")
	}
	if ok, _ := rt.Allow(ip); ok {
		t.Fatal("burst 0 acts as 1")
	}
	off := NewRateTable(RateConfig{PerMinute: 0, Burst: 1, Now: clk.Now})
	for range 1000 {
		if ok, _ := off.Allow(ip); !ok {
			t.Fatal("rate 0 is off")
		}
	}
	if off.Len() != 0 || off.Cap() != 0 {
		t.Fatal("an off table tracks nothing")
	}
	var nilT *RateTable
	if ok, _ := nilT.Allow(ip); !ok {
		t.Fatal("nil table admits")
	}
}

func TestRateTableSweep(t *testing.T) {
	clk := &fakeClock{}
	rt := NewRateTable(RateConfig{PerMinute: 60, Burst: 5, Now: clk.Now})
	for i := range uint32(5000) {
		rt.Allow(v4(i))
	}
	if rt.Len() != 5000 {
		t.Fatalf("Len = %d", rt.Len())
	}
	clk.Add(time.Second) // the one token each spent has come back: all full
	rt.Sweep(clk.Now())
	if rt.Len() != 0 {
		t.Fatalf("after refill, Len = %d, want 0", rt.Len())
	}
	// Partially drained buckets survive a sweep.
	ip := netip.MustParseAddr("192.0.2.1")
	rt.Allow(ip)
	rt.Allow(ip)
	clk.Add(time.Second)
	rt.Sweep(clk.Now())
	if rt.Len() != 1 {
		t.Fatalf("Len = %d, want 1", rt.Len())
	}
	clk.Add(time.Second)
	rt.Sweep(clk.Now())
	if rt.Len() != 0 {
		t.Fatalf("Len = %d, want 0", rt.Len())
	}
}

// TestRateTableLazySweep: without any Sweep call, a steady trickle of
// distinct addresses whose buckets refill stays small.
func TestRateTableLazySweep(t *testing.T) {
	clk := &fakeClock{}
	rt := NewRateTable(RateConfig{PerMinute: 600, Burst: 1, MaxEntries: 1 << 20, Now: clk.Now}) // 100ms per token
	for i := range uint32(200_000) {
		rt.Allow(v4(i))
		clk.Add(time.Millisecond)
	}
	// Live entries are those of the last 100ms (~100); lazily swept shards
	// keep at most about twice their live count plus a small floor.
	if n := rt.Len(); n > 64*64 {
		t.Fatalf("Len = %d after a trickle, lazy sweep is not working", n)
	}
}

// TestRateTableBoundedFlood: a million distinct addresses, none refilled,
// never push the table past its cap, and it still limits.
func TestRateTableBoundedFlood(t *testing.T) {
	n := uint32(1_000_000)
	if testing.Short() || raceEnabled {
		n = 100_000
	}
	clk := &fakeClock{}
	const maxEntries = 10_000
	rt := NewRateTable(RateConfig{PerMinute: 1, Burst: 2, MaxEntries: maxEntries, Now: clk.Now})
	if rt.Cap() > maxEntries || rt.Cap() < maxEntries-numShards {
		t.Fatalf("Cap = %d", rt.Cap())
	}
	for i := range n {
		if ok, _ := rt.Allow(v4(i)); !ok {
			t.Fatalf("fresh address %d refused", i)
		}
		if i%100_000 == 0 && rt.Len() > maxEntries {
			t.Fatalf("Len = %d > %d", rt.Len(), maxEntries)
		}
	}
	if l := rt.Len(); l > maxEntries || l < maxEntries/2 {
		t.Fatalf("Len = %d, want <= %d and the table in use", l, maxEntries)
	}
	// A recently seen, drained address is still limited: eviction takes
	// the fullest of a sample, and the newest entries are the emptiest.
	last := v4(n - 1)
	rt.Allow(last)
	if ok, _ := rt.Allow(last); ok {
		t.Fatal("drained address admitted")
	}
	// Small caps work too (fewer shards).
	small := NewRateTable(RateConfig{PerMinute: 1, Burst: 1, MaxEntries: 3, Now: clk.Now})
	for i := range uint32(1000) {
		small.Allow(v4(i))
		if small.Len() > 3 {
			t.Fatalf("small Len = %d", small.Len())
		}
	}
}

func TestRateTableConcurrent(t *testing.T) {
	clk := &fakeClock{}
	rt := NewRateTable(RateConfig{PerMinute: 60, Burst: 10, MaxEntries: 1000, Now: clk.Now})
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for g := range 8 {
		wg.Go(func() {
			n := 0
			for i := range 2000 {
				ip := v4(uint32(i % 50))
				if ok, _ := rt.Allow(ip); ok {
					n++
				}
				if g == 0 && i%500 == 0 {
					rt.Sweep(clk.Now())
				}
			}
			mu.Lock()
			admitted += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if admitted != 50*10 {
		t.Fatalf("admitted %d, want exactly the burst of 50 addresses (500)", admitted)
	}
}

// TestRateTableBytesPerIP measures heap bytes per tracked key. Below the
// bound the figure depends on where each shard's table is between doublings
// (24-byte slots, load 3/8..3/4: 32..64 B); 200,000 keys is the worst case
// (3,125 keys per shard in 8,192 slots). A table at the default bound holds
// 12,288 keys per shard in 16,384 slots: 32 B per key.
func TestRateTableBytesPerIP(t *testing.T) {
	n := 200_000
	bpi, _ := rateTableBytesPerIP(n, 2*n)
	t.Logf("RateTable: %.1f bytes per tracked address (%d addresses, below the bound)", bpi, n)
	if bpi > 72 {
		t.Fatalf("%.1f bytes per tracked address", bpi)
	}
	if raceEnabled {
		return
	}
	bpi, l := rateTableBytesPerIP(2*DefaultMaxEntries, 0)
	t.Logf("RateTable: %.1f bytes per tracked address (%d addresses, at the default bound)", bpi, l)
	if bpi > 36 || l > DefaultMaxEntries {
		t.Fatalf("at the bound: %.1f bytes per address, Len %d", bpi, l)
	}
}

// rateTableBytesPerIP inserts n distinct addresses into a table bounded at
// maxEntries and returns heap bytes per tracked address, and Len.
func rateTableBytesPerIP(n, maxEntries int) (float64, int) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rt := NewRateTable(RateConfig{PerMinute: 1, Burst: 1, MaxEntries: maxEntries, Now: func() int64 { return 0 }})
	for i := range uint32(n) {
		rt.AllowAt(v4(i), 0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	l := rt.Len()
	runtime.KeepAlive(rt)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(l), l
}
