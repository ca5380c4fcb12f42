package limits

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	tr, err := ParseTrustedProxies(" 10.0.0.0/8, 192.0.2.7 ,, fd00::/8, ::ffff:172.16.0.0/108, ::1, 10.1.2.3/8")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 6 {
		t.Fatalf("Len = %d, want 6", tr.Len())
	}
	in := []string{"10.9.9.9", "192.0.2.7", "fd12::1", "172.16.5.5", "::ffff:10.1.1.1", "::1", "10.1.2.3"}
	out := []string{"11.0.0.1", "192.0.2.8", "fe80::1", "172.32.0.1", "2001:db8::1", "::2", "::ffff:11.0.0.1"}
	for _, s := range in {
		if !tr.Contains(netip.MustParseAddr(s)) {
			t.Errorf("Contains(%s) = false", s)
		}
	}
	for _, s := range out {
		if tr.Contains(netip.MustParseAddr(s)) {
			t.Errorf("Contains(%s) = true", s)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "10.0.0", "foo", "fe80::1%eth0", "::ffff:1.2.3.4/64", "10.0.0.0/8,x"} {
		if _, err := ParseTrustedProxies(bad); err == nil || !strings.Contains(err.Error(), "trusted proxy") {
			t.Errorf("ParseTrustedProxies(%q) err = %v", bad, err)
		}
	}
	empty, err := ParseTrustedProxies("")
	if err != nil || empty.Len() != 0 {
		t.Fatalf("empty: %v %d", err, empty.Len())
	}
}

func TestClientIP(t *testing.T) {
	tr, err := ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer, xff, want string
	}{
		{"no proxy header", "203.0.113.5", "", "203.0.113.5"},
		{"spoofed from untrusted peer", "203.0.113.5", "1.1.1.1", "203.0.113.5"},
		{"spoofed chain from untrusted peer", "203.0.113.5", "1.1.1.1, 10.0.0.1", "203.0.113.5"},
		{"one proxy", "10.0.0.1", "198.51.100.7", "198.51.100.7"},
		{"client spoofs, proxy appends", "10.0.0.1", "1.1.1.1, 198.51.100.7", "198.51.100.7"},
		{"two proxies", "10.0.0.1", "1.1.1.1, 198.51.100.7, 10.0.0.2", "198.51.100.7"},
		{"spaces and tabs", "10.0.0.1", " 1.1.1.1 ,\t198.51.100.7\t, 10.0.0.2 ", "198.51.100.7"},
		{"empty entries", "10.0.0.1", "198.51.100.7,, 10.0.0.2,", "198.51.100.7"},
		{"all trusted: leftmost", "10.0.0.1", "10.0.0.9, 10.0.0.2", "10.0.0.9"},
		{"garbage rightmost", "10.0.0.1", "198.51.100.7, unknown", "10.0.0.1"},
		{"garbage after trusted", "10.0.0.1", "198.51.100.7, nope, 10.0.0.2", "10.0.0.1"},
		{"garbage left of client ignored", "10.0.0.1", "nope, 198.51.100.7", "198.51.100.7"},
		{"only commas", "10.0.0.1", ", ,", "10.0.0.1"},
		{"with port", "10.0.0.1", "198.51.100.7:4711", "198.51.100.7"},
		{"ipv6", "10.0.0.1", "2001:db8:1::5", "2001:db8:1::5"},
		{"ipv6 with port", "10.0.0.1", "[2001:db8:1::5]:443", "2001:db8:1::5"},
		{"ipv6 zone dropped", "10.0.0.1", "fe80::1%eth0", "fe80::1"},
		{"ipv6 trusted proxy", "2001:db8:ffff::1", "2001:db8:1::5, 2001:db8:ffff::2", "2001:db8:1::5"},
		{"mapped peer", "::ffff:10.0.0.1", "198.51.100.7", "198.51.100.7"},
		{"mapped entry", "10.0.0.1", "::ffff:198.51.100.7", "198.51.100.7"},
		{"mapped untrusted peer", "::ffff:203.0.113.5", "1.1.1.1", "203.0.113.5"},
		{"mapped trusted entry skipped", "10.0.0.1", "198.51.100.7, ::ffff:10.0.0.3", "198.51.100.7"},
		{"overlong entry", "10.0.0.1", strings.Repeat("1", 100), "10.0.0.1"},
		{"brackets without port", "10.0.0.1", "[2001:db8::1]", "10.0.0.1"},
	}
	for _, tt := range tests {
		got := ClientIP(netip.MustParseAddr(tt.peer), tt.xff, tr)
		if got != netip.MustParseAddr(tt.want) {
			t.Errorf("%s: ClientIP(%s, %q) = %v, want %s", tt.name, tt.peer, tt.xff, got, tt.want)
		}
		// The same header split over several lines gives the same answer.
		if got2 := ClientIPHeaders(netip.MustParseAddr(tt.peer), strings.Split(tt.xff, ","), tr); got2 != got {
			t.Errorf("%s: ClientIPHeaders = %v, ClientIP = %v", tt.name, got2, got)
		}
	}
	// Nobody trusted: the peer, always.
	for _, tr := range []*Trusted{nil, {}} {
		if got := ClientIP(netip.MustParseAddr("10.0.0.1"), "1.1.1.1", tr); got != netip.MustParseAddr("10.0.0.1") {
			t.Errorf("untrusted: %v", got)
		}
	}
}

func TestClientIPNoAlloc(t *testing.T) {
	tr, _ := ParseTrustedProxies("10.0.0.0/8")
	peer := netip.MustParseAddr("10.0.0.1")
	if n := testing.AllocsPerRun(100, func() {
		ClientIP(peer, "1.1.1.1, 2001:db8::1, 198.51.100.7:80, 10.0.0.2", tr)
	}); n != 0 {
		t.Errorf("ClientIP allocates %v", n)
	}
}

func TestKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::"},
		{"::1", "::"},
	}
	for _, tt := range tests {
		if got := Key(netip.MustParseAddr(tt.in)); got != netip.MustParseAddr(tt.want) {
			t.Errorf("Key(%s) = %v, want %s", tt.in, got, tt.want)
		}
	}
	if Key(netip.Addr{}).IsValid() {
		t.Error("Key(zero) should stay zero")
	}
	// IPv4 keys and IPv6 /64 keys never share a table slot.
	if key16(netip.MustParseAddr("0.0.0.0")) == key16(netip.MustParseAddr("::ffff:0:0")) &&
		key16(netip.MustParseAddr("::")) == key16(netip.MustParseAddr("0.0.0.0")) {
		t.Error("v4/v6 key collision")
	}
}

// FuzzClientIP: never panics; the answer is the peer or an address written
// in the header; an untrusted peer is never overridden; splitting the header
// over several lines does not change the answer.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1", "198.51.100.7, 10.0.0.2")
	f.Add("203.0.113.5", "1.1.1.1")
	f.Add("10.0.0.1", "[2001:db8::1]:443,unknown,,")
	f.Add("::ffff:10.0.0.1", "fe80::1%eth0")
	f.Add("10.0.0.1", "10.0.0.2, 10.0.0.3")
	tr, err := ParseTrustedProxies("10.0.0.0/8, fd00::/8")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, peerS, xff string) {
		peer, err := netip.ParseAddr(peerS)
		if err != nil {
			return
		}
		got := ClientIP(peer, xff, tr)
		if !tr.Contains(peer) {
			if got != peer.Unmap() {
				t.Fatalf("untrusted peer %v overridden by %v", peer, got)
			}
			return
		}
		if got != peer.Unmap() && !inHeader(got, xff) {
			t.Fatalf("ClientIP(%v, %q) = %v, not in the header", peer, xff, got)
		}
		if got2 := ClientIPHeaders(peer, strings.Split(xff, ","), tr); got2 != got {
			t.Fatalf("ClientIPHeaders = %v, ClientIP = %v", got2, got)
		}
	})
}

func inHeader(ip netip.Addr, xff string) bool {
	for e := range strings.SplitSeq(xff, ",") {
		if a, ok := parseXFFEntry(trimOWS(e)); ok && a == ip {
			return true
		}
	}
	return false
}
