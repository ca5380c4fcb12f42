package limits

import (
	"fmt"
	"net/netip"
	"strings"
)

// Trusted is the set of proxies (from -trusted-proxies) whose
// X-Forwarded-For is believed. A nil or empty *Trusted trusts nobody.
// Immutable after ParseTrustedProxies; safe for concurrent use.
type Trusted struct {
	prefixes []netip.Prefix // masked, IPv4 in 4-byte form
}

// ParseTrustedProxies parses a comma-separated list of CIDRs ("10.0.0.0/8",
// "fd00::/8") or plain addresses ("192.0.2.7", "::1", meaning /32 or /128).
// Empty entries are skipped. IPv4-mapped IPv6 entries are unmapped.
func ParseTrustedProxies(list string) (*Trusted, error) {
	t := &Trusted{}
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var p netip.Prefix
		if strings.IndexByte(item, '/') >= 0 {
			q, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", item, err)
			}
			a, bits := q.Addr(), q.Bits()
			if a.Is4In6() {
				if bits < 96 {
					return nil, fmt.Errorf("trusted proxy %q: IPv4-mapped prefix shorter than /96", item)
				}
				a, bits = a.Unmap(), bits-96
			}
			p = netip.PrefixFrom(a, bits).Masked()
		} else {
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", item, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q: zones are not allowed", item)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		t.prefixes = append(t.prefixes, p)
	}
	return t, nil
}

// Contains reports whether ip (unmapped) is a trusted proxy.
func (t *Trusted) Contains(ip netip.Addr) bool {
	if t == nil {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range t.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Len is the number of trusted prefixes.
func (t *Trusted) Len() int {
	if t == nil {
		return 0
	}
	return len(t.prefixes)
}

// ClientIP returns the address the per-IP limits apply to: the TCP peer,
// unless the peer is a trusted proxy, in which case X-Forwarded-For is
// walked from right to left, skipping trusted addresses, and the first
// untrusted one is the client. xff is the header value; several
// X-Forwarded-For lines must be passed joined by "," in order (or use
// ClientIPHeaders).
//
// Safety: only what trusted proxies appended is believed. If an entry that
// must be examined is not an address ("unknown", garbage), the chain is
// broken and the peer is returned. If every entry is trusted, the leftmost
// one is returned. Entries may carry a port ("192.0.2.1:1234",
// "[2001:db8::1]:443"); zones are dropped and IPv4-mapped IPv6 is unmapped.
// It does not allocate for zone-less addresses.
func ClientIP(peer netip.Addr, xff string, t *Trusted) netip.Addr {
	peer = peer.Unmap()
	if t.Len() == 0 || xff == "" || !t.Contains(peer) {
		return peer
	}
	ip, st := walkXFF(xff, t)
	if st == xffGarbage || !ip.IsValid() {
		return peer
	}
	return ip // the client, or the leftmost entry when all are trusted
}

// ClientIPHeaders is ClientIP for a request with several X-Forwarded-For
// header lines, given in the order they appeared.
func ClientIPHeaders(peer netip.Addr, xffs []string, t *Trusted) netip.Addr {
	peer = peer.Unmap()
	if t.Len() == 0 || len(xffs) == 0 || !t.Contains(peer) {
		return peer
	}
	var leftmost netip.Addr
	for i := len(xffs) - 1; i >= 0; i-- {
		ip, st := walkXFF(xffs[i], t)
		switch {
		case st == xffClient:
			return ip
		case st == xffGarbage:
			return peer
		case ip.IsValid():
			leftmost = ip
		}
	}
	if leftmost.IsValid() {
		return leftmost
	}
	return peer
}

type xffState uint8

const (
	xffTrusted xffState = iota // every entry trusted (or none)
	xffClient                  // found the first untrusted entry
	xffGarbage                 // hit an entry that is not an address
)

// walkXFF walks one header value right to left. It returns the first
// untrusted address (xffClient), the leftmost trusted one (xffTrusted; zero
// if there were no entries), or xffGarbage.
func walkXFF(xff string, t *Trusted) (netip.Addr, xffState) {
	var last netip.Addr
	for end := len(xff); end > 0; {
		start := strings.LastIndexByte(xff[:end], ',') + 1
		entry := trimOWS(xff[start:end])
		end = start - 1
		if entry == "" {
			continue // "a,,b" or a trailing comma: nothing was claimed
		}
		ip, ok := parseXFFEntry(entry)
		if !ok {
			return netip.Addr{}, xffGarbage
		}
		if !t.Contains(ip) {
			return ip, xffClient
		}
		last = ip
	}
	return last, xffTrusted
}

// parseXFFEntry accepts an address, optionally with a port.
func parseXFFEntry(s string) (netip.Addr, bool) {
	if len(s) == 0 || len(s) > 64 { // longest "[v6%zone]:port" worth reading
		return netip.Addr{}, false
	}
	// Pick the parser by shape: a failed parse builds an error value, which
	// allocates, and well-formed headers should not pay for that.
	if s[0] == '[' || strings.Count(s, ":") == 1 {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		return ap.Addr().Unmap().WithZone(""), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// Key is the grouping per-IP limits count under: an IPv4 address as is
// (IPv4-mapped IPv6 is unmapped first), an IPv6 address by its /64 prefix
// (zone dropped). A subscriber is normally given a whole /64 and can pick
// any of its 2^64 addresses, so counting per IPv6 address would let one host
// evade every per-IP limit. The cost: hosts sharing a /64 (some hosting
// providers) share one budget.
func Key(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if !ip.Is6() {
		return ip
	}
	p, _ := ip.Prefix(64)
	return p.Addr()
}

// key16 is Key in the 16-byte pointer-free form the tables store: IPv4 keys
// are IPv4-mapped (low 64 bits non-zero), IPv6 keys have the low 64 bits
// zero, so the two never collide.
func key16(ip netip.Addr) [16]byte {
	return Key(ip).As16()
}
