package codec

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

var utf8Cases = []string{
	"", "a", "hello", "é", "€", "😀", "aé€😀z", "\u007f\u0080\u07ff\u0800\uffff\U00010000\U0010ffff",
	"\xed\x9f\xbf", "\xee\x80\x80", // around the surrogates
	"\xff", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
	"\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\x80", "\xbf",
	"\xc3", "\xe2\x82", "\xf0\x9f\x98", "a\x80\x80\x80\x80", "\xe2\x82\xac\x80",
	strings.Repeat("a", 40) + "\xff" + strings.Repeat("b", 40),
	strings.Repeat("ж", 30) + "\xd0",
}

func TestUTF8(t *testing.T) {
	for _, s := range utf8Cases {
		want := utf8.ValidString(s)
		// Every way of cutting s in two, and byte by byte.
		for i := 0; i <= len(s); i++ {
			var u UTF8
			ok := u.Write([]byte(s[:i]))
			if ok != validPrefix([]byte(s[:i])) {
				t.Fatalf("%q: Write(prefix %d) = %v", s, i, ok)
			}
			ok = u.Write([]byte(s[i:])) && ok
			if got := ok && u.Complete(); got != want {
				t.Fatalf("%q split at %d: %v, want %v", s, i, got, want)
			}
			if u.Failed() == ok {
				t.Fatalf("%q: Failed() = %v after Write returned %v", s, u.Failed(), ok)
			}
		}
		var u UTF8
		ok := true
		for i := range len(s) {
			ok = u.Write([]byte{s[i]}) && ok
			if ok != validPrefix([]byte(s[:i+1])) {
				t.Fatalf("%q byte %d: %v", s, i, ok)
			}
		}
		if got := ok && u.Complete(); got != want {
			t.Fatalf("%q bytewise: %v, want %v", s, got, want)
		}
		u.Reset()
		if !u.Complete() || !u.Write([]byte("ok")) {
			t.Fatal("Reset did not clear the state")
		}
	}
}

// validPrefix is the reference for Write: p can be continued into valid
// UTF-8 by at most three more bytes (trying every boundary of the
// continuation byte ranges the encoding rules use).
func validPrefix(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	conts := []byte{0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf}
	var try func(q []byte, k int) bool
	try = func(q []byte, k int) bool {
		if utf8.Valid(q) {
			return true
		}
		if k == 0 {
			return false
		}
		for _, c := range conts {
			if try(append(bytes.Clone(q), c), k-1) {
				return true
			}
		}
		return false
	}
	return try(p, 3)
}

func BenchmarkUTF8(b *testing.B) {
	inputs := map[string][]byte{
		"ascii-4KiB": bytes.Repeat([]byte("The quick brown fox jumps over it"), 4096/33),
		"mixed-4KiB": bytes.Repeat([]byte("Grüße, мир, 世界, 😀! "), 4096/32),
		"ascii-64B":  bytes.Repeat([]byte("abcdefgh"), 8),
	}
	for name, p := range inputs {
		b.Run(name+"/UTF8", func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			var u UTF8
			for b.Loop() {
				u.Reset()
				if !u.Write(p) || !u.Complete() {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(name+"/utf8.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if !utf8.Valid(p) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
