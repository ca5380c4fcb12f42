package perm

import (
	"regexp"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/routing"
)

func TestValidChannel(t *testing.T) {
	for name, want := range map[string]bool{
		"news": true, "chat:room-1": true, "a.b_c:D-9": true, ":x": true, "a:b:c": true,
		"notifications#42": true, "dm#42,43": true, "#42": true, "chat:dm#a,b,c": true, "x#u:1": true,
		"": false, "#": false, "news#": false, "dm#42,": false, "dm#,42": false, "dm#42,,43": false,
		"a#b#c": false, "a,b": false, "a b": false, "a/b": false, "ü": false, "a*": false, "a>": false,
		strings.Repeat("a", MaxChannelLen): true, strings.Repeat("a", MaxChannelLen+1): false,
	} {
		if got := ValidChannel(name); got != want {
			t.Errorf("ValidChannel(%q) = %v, want %v", name, got, want)
		}
		if got := ValidChannel([]byte(name)); got != want {
			t.Errorf("ValidChannel([]byte %q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzValidChannel checks the grammar against a regular expression written
// from docs/auth.md, and that routing.ValidChannel (the rule channels are
// stored and carried by) is the same grammar.
func FuzzValidChannel(f *testing.F) {
	for _, s := range []string{"news", "dm#42,43", "#1", "a:b#c", "a,b", "x#", "a#b#c"} {
		f.Add(s)
	}
	re := regexp.MustCompile(`^[A-Za-z0-9_.:-]*(#[A-Za-z0-9_.:-]+(,[A-Za-z0-9_.:-]+)*)?$`)
	f.Fuzz(func(t *testing.T, name string) {
		got := ValidChannel(name)
		want := len(name) >= 1 && len(name) <= MaxChannelLen && re.MatchString(name)
		if got != want {
			t.Fatalf("ValidChannel(%q) = %v, grammar says %v", name, got, want)
		}
		if r := routing.ValidChannel([]byte(name)); r != got {
			t.Fatalf("%q: routing.ValidChannel says %v, perm %v", name, r, got)
		}
		if got {
			ns, users := Split(name)
			if strings.ContainsAny(ns, ":#") || strings.Contains(users, "#") || (users != "") != strings.Contains(name, "#") {
				t.Fatalf("Split(%q) = %q, %q", name, ns, users)
			}
		}
	})
}

func TestSplit(t *testing.T) {
	for _, c := range []struct{ name, ns, users string }{
		{"news", "", ""}, {"chat:room", "chat", ""}, {"a:b:c", "a", ""}, {"#42", "", "42"},
		{"dm#42,43", "", "42,43"}, {"chat:dm#a,b", "chat", "a,b"}, {"x#u:1", "", "u:1"}, {":x", "", ""},
	} {
		ns, users := Split(c.name)
		if ns != c.ns || users != c.users {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", c.name, ns, users, c.ns, c.users)
		}
	}
}

func TestListed(t *testing.T) {
	for _, c := range []struct {
		users, user string
		want        bool
	}{
		{"42", "42", true}, {"42,43", "43", true}, {"42,43", "4", false}, {"42,43", "42,43", false},
		{"42", "", false}, {"142", "42", false}, {"a,b,c", "b", true},
	} {
		if got := listedBytes([]byte(c.users), c.user); got != c.want {
			t.Errorf("listed(%q, %q) = %v", c.users, c.user, got)
		}
	}
}
