package limits

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// admissionFixture is the per-connection work of the accept/upgrade path
// with every limit on: origin check, per-IP rate, caps (acquire + release).
type admissionFixture struct {
	origins *Origins
	trusted *Trusted
	adm     *Admission
	ips     []netip.Addr
}

func newAdmissionFixture(b *testing.B) *admissionFixture {
	b.Helper()
	o, err := ParseOrigins("https://app.example.com, https://*.example.com, http://localhost:3000")
	if err != nil {
		b.Fatal(err)
	}
	tr, err := ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		b.Fatal(err)
	}
	f := &admissionFixture{
		origins: o,
		trusted: tr,
		adm: NewAdmission(AdmissionConfig{
			// Generous rate so that steady state is "admitted" (the common
			// case); 4096 clients, each reconnecting over and over. The real
			// clock (Now nil), so its cost is included.
			ConnPerMinute: 1e9, ConnBurst: 1e6, MaxConns: 1_000_000, MaxConnsPerIP: 10,
		}),
	}
	for i := range uint32(4096) {
		f.ips = append(f.ips, v4(0xC6336400+i*7919))
	}
	return f
}

func (f *admissionFixture) connect(b *testing.B, ip netip.Addr) {
	if !f.origins.Allow("https://chat.example.com", "ws.example.com", true) {
		b.Fatal("origin refused")
	}
	t, r, _ := f.adm.Admit(ip, false)
	if r != ReasonNone {
		b.Fatalf("refused: %s", r)
	}
	f.adm.Release(&t)
}

func BenchmarkAdmission(b *testing.B) {
	f := newAdmissionFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f.connect(b, f.ips[i&4095])
	}
}

func BenchmarkAdmissionParallel(b *testing.B) {
	f := newAdmissionFixture(b)
	var seq atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1)) * 997
		for pb.Next() {
			f.connect(b, f.ips[i&4095])
			i++
		}
	})
}

// BenchmarkAdmissionWithXFF adds ClientIP behind a trusted proxy.
func BenchmarkAdmissionWithXFF(b *testing.B) {
	f := newAdmissionFixture(b)
	peer := netip.MustParseAddr("10.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		ip := ClientIP(peer, "203.0.113.9, 198.51.100.7, 10.0.0.2", f.trusted)
		f.connect(b, ip)
	}
}

func BenchmarkOriginsAllow(b *testing.B) {
	o, _ := ParseOrigins("https://app.example.com, https://*.example.com")
	for _, tc := range []struct{ name, origin string }{
		{"exact", "https://app.example.com"},
		{"wildcard", "https://chat.example.com"},
		{"refused", "https://evil.example.net"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				o.Allow(tc.origin, "ws.example.com", true)
			}
		})
	}
	b.Run("samehost", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			(*Origins)(nil).Allow("https://ws.example.com", "ws.example.com", true)
		}
	})
}

// BenchmarkRateTableFlood: every call is a new address and the table is at
// its bound, so each call evicts.
func BenchmarkRateTableFlood(b *testing.B) {
	rt := NewRateTable(RateConfig{PerMinute: 1, Burst: 2, MaxEntries: 100_000, Now: func() int64 { return 0 }})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rt.AllowAt(v4(uint32(i)), 0)
	}
}

func BenchmarkMsgBucketCheck(b *testing.B) {
	cfg := &MsgRateConfig{PerSecond: 1000, Burst: 50}
	var bk MsgBucket
	now := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		now += int64(time.Millisecond)
		bk.Check(now, cfg)
	}
}

func BenchmarkSampler(b *testing.B) {
	s := NewSampler(10)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Allow(1, 0)
		}
	})
}

// BenchmarkRateTableMemory reports heap bytes per tracked address below
// the bound (worst case: tables just doubled) and at the default bound.
func BenchmarkRateTableMemory(b *testing.B) {
	for _, tc := range []struct {
		name          string
		n, maxEntries int
	}{
		{"200k_unbounded", 200_000, 400_000},
		{"default_bound_full", 2 * DefaultMaxEntries, 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var bpi float64
			for b.Loop() {
				bpi, _ = rateTableBytesPerIP(tc.n, tc.maxEntries)
			}
			b.ReportMetric(bpi, "B/ip")
		})
	}
}
