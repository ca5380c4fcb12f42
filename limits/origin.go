package limits

import (
	"net/netip"
	"strconv"
	"strings"
)

// maxOriginLen bounds an Origin header or pattern. A DNS name is at most 253
// bytes; scheme, "://", brackets and ":65535" fit in the rest. Longer values
// are refused without being looked at, which also keeps the canonical form
// in a stack buffer on the hot path.
const maxOriginLen = 320

// Origins is the Origin policy built from -allowed-origins. The zero value
// and a nil *Origins both mean the default policy (requests without Origin
// and same-host origins only). It is immutable after ParseOrigins and safe
// for concurrent use.
type Origins struct {
	any      bool                // "*" was listed
	set      map[string]struct{} // canonical exact origins and "scheme://*.suffix[:port]" wildcards
	patterns []string            // canonical forms, in list order, for logs
}

// OriginError reports a malformed -allowed-origins entry.
type OriginError struct {
	Pattern string // the offending entry as written
	Reason  string // what is wrong with it
}

func (e *OriginError) Error() string {
	return "allowed origin " + strconv.Quote(e.Pattern) + ": " + e.Reason
}

// ParseOrigins parses the comma-separated -allowed-origins list. Entries are
// trimmed; empty entries are skipped, so "" (or " , ") yields the default
// policy. Each entry is "*", or scheme://host[:port] where host may be a DNS
// name, an IPv4 address, a bracketed IPv6 address, or "*." followed by a DNS
// name (the "*" then stands for exactly one label). Paths, query strings,
// user info, trailing slashes, zones and "*" anywhere else are errors
// (*OriginError), so that a typo fails at startup rather than silently
// refusing every browser.
func ParseOrigins(list string) (*Origins, error) {
	o := &Origins{set: make(map[string]struct{})}
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		switch item {
		case "":
			continue
		case "*":
			o.any = true
			o.patterns = append(o.patterns, "*")
			continue
		case "null":
			return nil, &OriginError{item, `the "null" origin (sandboxed frames, file://) cannot be allowed by name; use "*" to allow every origin`}
		}
		if len(item) > maxOriginLen {
			return nil, &OriginError{item, "too long"}
		}
		p, why := splitOrigin(item, true)
		if why != "" {
			return nil, &OriginError{item, why}
		}
		var buf [maxOriginLen]byte
		c := string(p.appendCanonical(buf[:0]))
		if _, dup := o.set[c]; !dup {
			o.set[c] = struct{}{}
			o.patterns = append(o.patterns, c)
		}
	}
	return o, nil
}

// Patterns returns the canonical form of every listed pattern (lower case,
// default port dropped, IPv6 in RFC 5952 form), for the startup log. Empty
// means the default same-host policy.
func (o *Origins) Patterns() []string {
	if o == nil {
		return nil
	}
	return append([]string(nil), o.patterns...)
}

// Allow reports whether a request with the given Origin header value may
// upgrade. host is the request's Host header and tls whether this server
// itself terminated TLS for the request. It does not allocate.
//
//   - An absent Origin ("") is always allowed: browsers always send Origin on
//     WebSocket handshakes, and a non-browser client could send any value, so
//     refusing it would only break tools, not stop anyone.
//   - "*" in the list allows every origin, "null" included.
//   - With a list, the list replaces the default: the origin must equal an
//     exact entry or match a "*." entry. Scheme and host compare
//     case-insensitively; the port must match, where an absent port means the
//     scheme's default (80 for http/ws, 443 for https/wss), so
//     "https://a.com" and "https://a.com:443" are the same origin (browsers
//     never send the default port).
//   - With no list (default): the origin's host and port must equal those of
//     the Host header (a Host without port means the origin scheme's default
//     port). The scheme is not compared on plain connections, because TLS is
//     often terminated by a proxy in front of the server; when the server
//     terminated TLS itself (tls == true) the origin must be https (or wss).
func (o *Origins) Allow(origin, host string, tls bool) bool {
	if origin == "" {
		return true
	}
	if o != nil && o.any {
		return true
	}
	if len(origin) > maxOriginLen {
		return false
	}
	p, why := splitOrigin(origin, false)
	if why != "" {
		return false
	}
	if o == nil || len(o.set) == 0 {
		return sameHost(p, host, tls)
	}
	var buf [2 * maxOriginLen]byte
	exact := p.appendCanonical(buf[:0])
	if _, ok := o.set[string(exact)]; ok {
		return true
	}
	// Replace the first label by "*" and look again: "*." patterns are
	// stored in that form, so a wildcard costs one more map lookup however
	// many patterns there are.
	if p.host[0] == '[' {
		return false
	}
	dot := strings.IndexByte(p.host, '.')
	if dot <= 0 {
		return false
	}
	wild := buf[len(exact):len(exact)]
	wild = appendLower(wild, p.scheme)
	wild = append(wild, "://*"...)
	wild = appendLower(wild, p.host[dot:])
	wild = p.appendPort(wild)
	_, ok := o.set[string(wild)]
	return ok
}

// originParts are the pieces of an origin or pattern, as substrings of the
// input (no copies).
type originParts struct {
	scheme   string
	host     string // name, IPv4, or "[v6]"; without the "*." of a wildcard
	port     int    // 0 = absent
	wildcard bool   // pattern "*.host"
}

// splitOrigin splits and validates scheme://host[:port]. why is "" on
// success, otherwise a constant description (no allocation on the hot path).
func splitOrigin(s string, pattern bool) (p originParts, why string) {
	i := strings.Index(s, "://")
	if i < 0 {
		return p, `missing scheme (want scheme://host[:port], e.g. https://app.example.com)`
	}
	p.scheme = s[:i]
	if !validScheme(p.scheme) {
		return p, "bad scheme"
	}
	rest := s[i+3:]
	if j := strings.IndexAny(rest, "/?#@\\ \t"); j >= 0 {
		switch rest[j] {
		case '/', '?', '#':
			return p, "an origin has no path, query or trailing slash (want scheme://host[:port])"
		case '@':
			return p, "an origin has no user info"
		default:
			return p, "bad character in host"
		}
	}
	hostport := rest
	if rest != "" && rest[0] == '[' {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return p, "unterminated IPv6 literal"
		}
		lit := rest[1:end]
		if strings.IndexByte(lit, '%') >= 0 {
			return p, "IPv6 zones are not allowed in origins"
		}
		a, err := netip.ParseAddr(lit)
		if err != nil || !a.Is6() {
			return p, "bad IPv6 literal"
		}
		p.host = rest[:end+1]
		hostport = rest[end+1:]
		if hostport != "" && hostport[0] != ':' {
			return p, "junk after IPv6 literal"
		}
	} else {
		c := strings.IndexByte(rest, ':')
		if c < 0 {
			p.host, hostport = rest, ""
		} else {
			p.host, hostport = rest[:c], rest[c:]
		}
		if pattern && strings.HasPrefix(p.host, "*.") {
			p.wildcard = true
			p.host = p.host[2:]
		}
		if strings.IndexByte(p.host, '*') >= 0 {
			return p, `"*" may only be the whole first label ("https://*.example.com") or the whole entry`
		}
		if !validName(p.host) {
			return p, "bad host name"
		}
	}
	if hostport != "" {
		n, ok := parsePort(hostport[1:])
		if !ok {
			return p, "bad port"
		}
		p.port = n
	}
	if p.port != 0 && p.port == defaultPort(p.scheme) {
		p.port = 0
	}
	return p, ""
}

// appendCanonical appends the canonical form: lower-case scheme and host,
// IPv6 in RFC 5952 form, default port dropped, "*." kept for wildcards.
func (p originParts) appendCanonical(dst []byte) []byte {
	dst = appendLower(dst, p.scheme)
	dst = append(dst, "://"...)
	if p.wildcard {
		dst = append(dst, "*."...)
	}
	if p.host[0] == '[' {
		a, _ := netip.ParseAddr(p.host[1 : len(p.host)-1]) // validated by splitOrigin
		dst = append(dst, '[')
		dst = a.AppendTo(dst)
		dst = append(dst, ']')
	} else {
		dst = appendLower(dst, p.host)
	}
	return p.appendPort(dst)
}

func (p originParts) appendPort(dst []byte) []byte {
	if p.port == 0 {
		return dst
	}
	dst = append(dst, ':')
	return strconv.AppendInt(dst, int64(p.port), 10)
}

// sameHost implements the default policy (see Allow).
func sameHost(p originParts, host string, tls bool) bool {
	if tls && !strings.EqualFold(p.scheme, "https") && !strings.EqualFold(p.scheme, "wss") {
		return false
	}
	hh, hp, ok := splitHostHeader(host)
	if !ok {
		return false
	}
	if p.host[0] == '[' {
		if hh[0] != '[' {
			return false
		}
		a, _ := netip.ParseAddr(p.host[1 : len(p.host)-1])
		b, err := netip.ParseAddr(hh[1 : len(hh)-1])
		if err != nil || a != b {
			return false
		}
	} else if !strings.EqualFold(p.host, hh) {
		return false
	}
	def := defaultPort(p.scheme)
	op, rp := p.port, hp
	if op == 0 {
		op = def
	}
	if rp == 0 {
		rp = def
	}
	return op == rp
}

// splitHostHeader splits a Host header value into host and port (0 if
// absent).
func splitHostHeader(h string) (host string, port int, ok bool) {
	if h == "" {
		return "", 0, false
	}
	rest := ""
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", 0, false
		}
		host, rest = h[:end+1], h[end+1:]
	} else if c := strings.IndexByte(h, ':'); c >= 0 {
		host, rest = h[:c], h[c:]
	} else {
		host = h
	}
	if host == "" || host == "[]" {
		return "", 0, false
	}
	if rest != "" {
		if rest[0] != ':' {
			return "", 0, false
		}
		n, ok := parsePort(rest[1:])
		if !ok {
			return "", 0, false
		}
		port = n
	}
	return host, port, true
}

func defaultPort(scheme string) int {
	switch {
	case strings.EqualFold(scheme, "http"), strings.EqualFold(scheme, "ws"):
		return 80
	case strings.EqualFold(scheme, "https"), strings.EqualFold(scheme, "wss"):
		return 443
	}
	return 0
}

// parsePort accepts 1-5 decimal digits with a value in 1..65535.
func parsePort(s string) (int, bool) {
	if len(s) == 0 || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 1 && n <= 65535
}

// validScheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 3.1).
func validScheme(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (s[i] >= '0' && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.'):
		default:
			return false
		}
	}
	return true
}

// validName accepts ASCII host names: dot-separated labels of 1..63 letters,
// digits, '-' or '_', 253 bytes at most. Browsers send IDNs in punycode, so
// non-ASCII is refused (write the xn-- form in patterns).
func validName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	return label > 0
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
