package limits

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseOriginsErrors(t *testing.T) {
	bad := []string{
		"example.com",                                 // no scheme
		"*.example.com",                               // no scheme
		"https://example.com/",                        // trailing slash
		"https://example.com/path",                    // path
		"https://example.com?q",                       // query
		"https://user@example.com",                    // user info
		"https://",                                    // no host
		"https://:443",                                // no host
		"https://example.com:",                        // empty port
		"https://example.com:0",                       // port 0
		"https://example.com:65536",                   // port range
		"https://example.com:123456",                  // port length
		"https://example.com:8o",                      // port digits
		"https://a*.example.com",                      // star inside a label
		"https://app.*.example.com",                   // star not first
		"https://*",                                   // star without domain
		"https://*.",                                  // star without domain
		"https://**.example.com",                      // double star
		"*://example.com",                             // star scheme
		"1http://example.com",                         // scheme must start with a letter
		"ht_tp://example.com",                         // scheme chars
		"https://exa mple.com",                        // space
		"https://example..com",                        // empty label
		"https://.example.com",                        // empty label
		"https://example.com.",                        // trailing dot
		"https://[::1",                                // unterminated v6
		"https://[::1]x",                              // junk after v6
		"https://[1.2.3.4]",                           // v4 in brackets
		"https://[fe80::1%25eth0]",                    // zone
		"https://[zz::1]",                             // bad v6
		"https://bücher.example",                      // non-ASCII
		"null",                                        // null origin by name
		"https://ok.example.com, nohost:",             // second entry bad
		"https://" + strings.Repeat("a", 64) + ".com", // label > 63
	}
	for _, in := range bad {
		o, err := ParseOrigins(in)
		if err == nil {
			t.Errorf("ParseOrigins(%q) = %v, want error", in, o.Patterns())
			continue
		}
		var oe *OriginError
		if !errors.As(err, &oe) || oe.Reason == "" || !strings.Contains(err.Error(), "allowed origin") {
			t.Errorf("ParseOrigins(%q) error %v: want *OriginError with context", in, err)
		}
	}
}

func TestParseOriginsCanonical(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"*", []string{"*"}},
		{"HTTPS://App.Example.COM", []string{"https://app.example.com"}},
		{"https://a.com:443, https://a.com", []string{"https://a.com"}},
		{"http://a.com:80,http://a.com:8080", []string{"http://a.com", "http://a.com:8080"}},
		{"wss://a.com:443,ws://a.com:80", []string{"wss://a.com", "ws://a.com"}},
		{"https://*.Example.com:8443", []string{"https://*.example.com:8443"}},
		{"http://[0:0:0:0:0:0:0:1]:8080", []string{"http://[::1]:8080"}},
		{"http://[2001:DB8::1]", []string{"http://[2001:db8::1]"}},
		{"chrome-extension://abcdef", []string{"chrome-extension://abcdef"}},
		{"https://a.com:00443", []string{"https://a.com"}},
	}
	for _, tt := range tests {
		o, err := ParseOrigins(tt.in)
		if err != nil {
			t.Errorf("ParseOrigins(%q): %v", tt.in, err)
			continue
		}
		if got := o.Patterns(); !slices.Equal(got, tt.want) {
			t.Errorf("ParseOrigins(%q).Patterns() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOriginsAllowList(t *testing.T) {
	const list = "https://app.example.com, https://*.example.com, http://localhost:3000, " +
		"http://[::1]:8080, https://*.sub.test.org:8443, HTTP://UPPER.example.net, https://1.2.3.4"
	o, err := ParseOrigins(list)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		origin string
		want   bool
	}{
		{"", true}, // no Origin header: non-browser client
		{"https://app.example.com", true},
		{"https://APP.EXAMPLE.COM", true},
		{"HTTPS://app.example.com", true},
		{"https://app.example.com:443", true}, // default port
		{"https://app.example.com:8443", false},
		{"https://other.example.com", true}, // one label
		{"https://x-1.example.com", true},
		{"https://example.com", false},          // zero labels
		{"https://a.b.example.com", false},      // two labels
		{"https://example.com.evil.net", false}, // suffix trick
		{"https://app.example.com.evil.net", false},
		{"https://evilexample.com", false},
		{"https://.example.com", false},
		{"http://app.example.com", false},        // scheme must match
		{"wss://app.example.com", false},         // scheme literal
		{"https://app.example.com/", false},      // not an origin
		{"https://app.example.com:443/x", false}, //
		{"https://user@app.example.com", false},
		{"http://localhost:3000", true},
		{"http://LOCALHOST:3000", true},
		{"http://localhost", false},
		{"http://localhost:3001", false},
		{"https://localhost:3000", false},
		{"http://[::1]:8080", true},
		{"http://[0::1]:8080", true}, // same address, other spelling
		{"http://[::1]", false},
		{"http://[::2]:8080", false},
		{"http://[::1]:8080x", false},
		{"https://a.sub.test.org:8443", true},
		{"https://a.sub.test.org", false}, // port must match
		{"https://sub.test.org:8443", false},
		{"http://upper.example.net", true},
		{"https://1.2.3.4", true},
		{"https://1.2.3.5", false},
		{"null", false},
		{"garbage", false},
		{"https://*.example.com", false}, // a literal star is not a host
		{"https://" + strings.Repeat("a", 400), false},
	}
	for _, tt := range tests {
		for _, tls := range []bool{false, true} {
			if got := o.Allow(tt.origin, "ws.example.com", tls); got != tt.want {
				t.Errorf("Allow(%q, tls=%v) = %v, want %v", tt.origin, tls, got, tt.want)
			}
		}
	}
}

func TestOriginsAny(t *testing.T) {
	o, err := ParseOrigins("https://a.com, *")
	if err != nil {
		t.Fatal(err)
	}
	for _, origin := range []string{"", "null", "https://evil.net", "garbage"} {
		if !o.Allow(origin, "a.com", false) {
			t.Errorf("* should allow %q", origin)
		}
	}
}

func TestOriginsDefaultSameHost(t *testing.T) {
	empty, err := ParseOrigins("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		origin, host string
		tls, want    bool
	}{
		{"", "a.com", false, true},
		{"", "", true, true},
		{"http://a.com", "a.com", false, true},
		{"https://a.com", "a.com", false, true}, // TLS terminated by a proxy
		{"https://A.COM", "a.com", false, true},
		{"http://a.com", "A.com", false, true},
		{"https://a.com", "a.com", true, true},
		{"wss://a.com", "a.com", true, true},
		{"http://a.com", "a.com", true, false}, // http page on a TLS server
		{"http://a.com:8080", "a.com:8080", false, true},
		{"https://a.com:8443", "a.com:8443", true, true},
		{"http://a.com:8080", "a.com", false, false},
		{"http://a.com", "a.com:8080", false, false},
		{"http://a.com", "a.com:80", false, true},
		{"https://a.com", "a.com:443", false, true},
		{"http://a.com", "a.com:443", false, false},
		{"https://a.com:443", "a.com", true, true},
		{"http://b.com", "a.com", false, false},
		{"http://a.com.evil.net", "a.com", false, false},
		{"http://evil.net", "evil.net.a.com", false, false},
		{"http://[::1]:8080", "[::1]:8080", false, true},
		{"http://[::1]:8080", "[0:0::1]:8080", false, true},
		{"http://[::1]", "[::1]", false, true},
		{"http://[::1]:8080", "[::2]:8080", false, false},
		{"http://[::1]:8080", "localhost:8080", false, false},
		{"http://localhost:8080", "[::1]:8080", false, false},
		{"http://127.0.0.1:8080", "127.0.0.1:8080", false, true},
		{"http://a.com", "", false, false},
		{"http://a.com", "a.com:", false, false},
		{"http://a.com", "a.com:x", false, false},
		{"http://a.com", "[::1", false, false},
		{"null", "a.com", false, false},
		{"garbage", "garbage", false, false},
		{"http://a.com/", "a.com", false, false},
	}
	for _, o := range []*Origins{nil, empty, {}} {
		for _, tt := range tests {
			if got := o.Allow(tt.origin, tt.host, tt.tls); got != tt.want {
				t.Errorf("default Allow(%q, host %q, tls=%v) = %v, want %v", tt.origin, tt.host, tt.tls, got, tt.want)
			}
		}
	}
}

func TestOriginsListReplacesSameHost(t *testing.T) {
	o, err := ParseOrigins("https://app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if o.Allow("https://ws.example.com", "ws.example.com", true) {
		t.Error("with a list, same-host must not be implied")
	}
}

func TestOriginsAllowNoAlloc(t *testing.T) {
	o, err := ParseOrigins("https://app.example.com, https://*.example.com, http://[::1]:8080")
	if err != nil {
		t.Fatal(err)
	}
	cases := []string{"https://APP.example.com", "https://x.example.com:443", "http://[0::1]:8080", "https://nope.org"}
	for _, c := range cases {
		if n := testing.AllocsPerRun(100, func() { o.Allow(c, "h", false) }); n != 0 {
			t.Errorf("Allow(%q) allocates %v", c, n)
		}
		if n := testing.AllocsPerRun(100, func() { (*Origins)(nil).Allow(c, "[::1]:8080", false) }); n != 0 {
			t.Errorf("default Allow(%q) allocates %v", c, n)
		}
	}
}

// FuzzParseOrigins: the parser never panics, its canonical output parses to
// itself, and every exact pattern allows its own canonical origin.
func FuzzParseOrigins(f *testing.F) {
	for _, s := range []string{
		"", "*", "https://a.com", "https://*.example.com:8443, http://[::1]:8080",
		"HTTP://A.COM:80", "https://a.com/", "null", "https://[fe80::1%25eth0]", "x://*.*",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		o, err := ParseOrigins(list)
		if err != nil {
			return
		}
		for _, p := range o.Patterns() {
			o2, err := ParseOrigins(p)
			if err != nil {
				t.Fatalf("canonical %q of %q does not parse: %v", p, list, err)
			}
			if got := o2.Patterns(); len(got) != 1 || got[0] != p {
				t.Fatalf("canonical %q of %q is not a fixed point: %q", p, list, got)
			}
			if !strings.Contains(p, "*") && !o.Allow(p, "", false) {
				t.Fatalf("%q does not allow its own pattern %q", list, p)
			}
		}
	})
}

// FuzzOriginAllow: Allow never panics, and its answer does not depend on the
// case of scheme and host.
func FuzzOriginAllow(f *testing.F) {
	f.Add("https://app.example.com", "app.example.com", false)
	f.Add("http://[::1]:8080", "[::1]:8080", false)
	f.Add("https://a.b.example.com", "x", true)
	f.Add("null", "", false)
	f.Add("https://x.example.com:443", "x.example.com:443", true)
	list, err := ParseOrigins("https://app.example.com, https://*.example.com, http://[::1]:8080, ws://l:1")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, origin, host string, tls bool) {
		got := list.Allow(origin, host, tls)
		if up := strings.ToUpper(origin); isASCII(origin) && list.Allow(up, host, tls) != got {
			t.Fatalf("case changes the answer for %q", origin)
		}
		def := (*Origins)(nil).Allow(origin, host, tls)
		if origin == "" && (!got || !def) {
			t.Fatal("absent origin refused")
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
