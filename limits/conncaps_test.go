package limits

import (
	"net/netip"
	"sync"
	"testing"
)

func TestConnCapsPerIPAndGlobal(t *testing.T) {
	c := NewConnCaps(2, 3)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	steps := []struct {
		ip   netip.Addr
		want Reason
	}{
		{a, ReasonNone}, {a, ReasonNone}, {a, ReasonIPCap},
		{b, ReasonNone}, {b, ReasonGlobalCap},
	}
	for i, s := range steps {
		if got := c.Acquire(s.ip); got != s.want {
			t.Fatalf("step %d: Acquire(%v) = %q, want %q", i, s.ip, got, s.want)
		}
	}
	if c.Active() != 3 || c.PerIP(a) != 2 || c.PerIP(b) != 1 {
		t.Fatalf("Active=%d PerIP(a)=%d PerIP(b)=%d", c.Active(), c.PerIP(a), c.PerIP(b))
	}
	if !c.Release(a) || c.Acquire(b) != ReasonNone {
		t.Fatal("a released slot should admit b")
	}
	for _, ip := range []netip.Addr{a, b, b} {
		if !c.Release(ip) {
			t.Fatalf("Release(%v) = false", ip)
		}
	}
	if c.Active() != 0 || c.Keys() != 0 || c.PerIP(a) != 0 {
		t.Fatalf("not back to zero: Active=%d Keys=%d", c.Active(), c.Keys())
	}
}

func TestConnCapsIPv6Grouping(t *testing.T) {
	c := NewConnCaps(1, 0)
	if c.Acquire(netip.MustParseAddr("2001:db8::1")) != ReasonNone {
		t.Fatal("first refused")
	}
	if c.Acquire(netip.MustParseAddr("2001:db8::2")) != ReasonIPCap {
		t.Fatal("same /64 must share the cap")
	}
	if c.Acquire(netip.MustParseAddr("::ffff:192.0.2.1")) != ReasonNone || c.Acquire(netip.MustParseAddr("192.0.2.1")) != ReasonIPCap {
		t.Fatal("mapped and plain IPv4 must share the cap")
	}
	if !c.Release(netip.MustParseAddr("2001:db8::3")) { // any address of the /64
		t.Fatal("release within the /64")
	}
}

func TestConnCapsReleaseGuard(t *testing.T) {
	for _, tc := range []struct{ perIP, global int }{{2, 10}, {0, 10}, {0, 0}, {3, 0}} {
		c := NewConnCaps(tc.perIP, tc.global)
		ip := netip.MustParseAddr("192.0.2.1")
		if c.Release(ip) {
			t.Errorf("%+v: release without acquire returned true", tc)
		}
		if c.Active() != 0 || c.PerIP(ip) != 0 {
			t.Errorf("%+v: went negative: %d %d", tc, c.Active(), c.PerIP(ip))
		}
		if c.Acquire(ip) != ReasonNone {
			t.Fatalf("%+v: refused", tc)
		}
		if !c.Release(ip) || c.Release(ip) {
			t.Errorf("%+v: double release not caught", tc)
		}
		if tc.perIP > 0 {
			// A stray release for another address must not eat ip's slot.
			c.Acquire(ip)
			if c.Release(netip.MustParseAddr("192.0.2.99")) || c.Active() != 1 {
				t.Errorf("%+v: stray release changed the global count", tc)
			}
			c.Release(ip)
		}
		if c.Active() != 0 || c.Keys() != 0 {
			t.Errorf("%+v: Active=%d Keys=%d", tc, c.Active(), c.Keys())
		}
	}
}

func TestConnCapsOff(t *testing.T) {
	c := NewConnCaps(0, 0)
	ip := netip.MustParseAddr("192.0.2.1")
	for range 1000 {
		if c.Acquire(ip) != ReasonNone {
			t.Fatal("caps off should admit")
		}
	}
	if c.Active() != 1000 {
		t.Fatalf("Active = %d", c.Active())
	}
}

// TestConnCapsConcurrent: racing acquire/release never exceed the caps,
// never go negative and end at zero with no map entries left.
func TestConnCapsConcurrent(t *testing.T) {
	const perIP, global = 3, 40
	c := NewConnCaps(perIP, global)
	var wg sync.WaitGroup
	var bad sync.Once
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				ip := v4(uint32((g*7 + i) % 20))
				if c.Acquire(ip) != ReasonNone {
					continue
				}
				if n, a := c.PerIP(ip), c.Active(); n > perIP || n < 1 || a > global || a < 1 {
					bad.Do(func() { t.Errorf("PerIP=%d Active=%d", n, a) })
				}
				if !c.Release(ip) {
					bad.Do(func() { t.Error("release of an acquired slot failed") })
				}
			}
		})
	}
	wg.Wait()
	if c.Active() != 0 || c.Keys() != 0 {
		t.Fatalf("Active=%d Keys=%d", c.Active(), c.Keys())
	}
}

func TestAdmission(t *testing.T) {
	clk := &fakeClock{}
	a := NewAdmission(AdmissionConfig{ConnPerMinute: 60, ConnBurst: 3, MaxConns: 100, MaxConnsPerIP: 2, Now: clk.Now})
	ip := netip.MustParseAddr("192.0.2.1")
	want := []Reason{ReasonNone, ReasonNone, ReasonIPCap, ReasonIPRate}
	var held []Ticket
	for i, w := range want {
		tk, r, ra := a.Admit(ip, false)
		if r != w || (r == ReasonIPRate) != (ra >= 1e9) || tk.Held() != (r == ReasonNone) {
			t.Fatalf("attempt %d: %q %v ticket %x, want %q", i, r, ra, tk, w)
		}
		if tk.Held() {
			held = append(held, tk)
		}
	}
	for i := range held {
		a.Release(&held[i])
		a.Release(&held[i]) // a second release of the same ticket does nothing
		if held[i] != 0 {
			t.Fatal("Release did not clear the ticket")
		}
	}
	if a.Caps.Active() != 0 || a.Caps.Keys() != 0 || a.Caps.PerIP(ip) != 0 {
		t.Fatalf("not released: active %d keys %d", a.Caps.Active(), a.Caps.Keys())
	}
}

// TestAdmissionExemptions: loopback clients (unless LimitLoopback) and
// callers' exemptions skip the per-IP rate and cap, never the global cap.
func TestAdmissionExemptions(t *testing.T) {
	for _, tc := range []struct {
		name          string
		ip            string
		exempt, limit bool
		perIP         bool // the per-IP limits apply
	}{
		{"remote", "192.0.2.1", false, false, true},
		{"loopback", "127.0.0.1", false, false, false},
		{"loopback v6", "::1", false, false, false},
		{"loopback limited", "127.0.0.1", false, true, true},
		{"exempt remote", "192.0.2.1", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAdmission(AdmissionConfig{ConnPerMinute: 1, ConnBurst: 1, MaxConns: 3, MaxConnsPerIP: 1, LimitLoopback: tc.limit})
			ip := netip.MustParseAddr(tc.ip)
			var got []Reason
			var tickets []Ticket
			for i := 0; i < 4; i++ {
				tk, r, _ := a.Admit(ip, tc.exempt)
				got = append(got, r)
				tickets = append(tickets, tk)
			}
			want := []Reason{ReasonNone, ReasonIPRate, ReasonIPRate, ReasonIPRate}
			if !tc.perIP {
				want = []Reason{ReasonNone, ReasonNone, ReasonNone, ReasonGlobalCap}
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("attempts: %v, want %v", got, want)
				}
			}
			for i := range tickets {
				a.Release(&tickets[i])
			}
			if a.Caps.Active() != 0 || a.Caps.Keys() != 0 {
				t.Fatalf("after release: active %d keys %d", a.Caps.Active(), a.Caps.Keys())
			}
		})
	}
}
