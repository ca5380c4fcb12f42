package perm

import (
	"strings"
	"testing"
)

func TestDecisions(t *testing.T) {
	nss := []Namespace{
		{Name: "public", Subscribe: SubscribeAnyone, Publish: PublishAnyone, Presence: true},
		{Name: "chat", Subscribe: SubscribeAuthenticated, Publish: PublishSubscribers, Presence: true, JoinLeave: true},
		{Name: "private", Subscribe: SubscribeToken, Publish: PublishAuthenticated},
		{Name: "billing", Subscribe: SubscribeProxy, Publish: PublishProxy},
		{Name: "feed", Subscribe: SubscribeAnyone, Publish: PublishNone},
	}
	on, err := New(true, nss)
	if err != nil {
		t.Fatal(err)
	}
	off, _ := New(false, nss)
	openDefault, _ := New(true, append(nss, Namespace{Name: "", Subscribe: SubscribeAnyone, Publish: PublishAuthenticated, Presence: true}))

	const anon = ""
	for _, c := range []struct {
		p          *Policy
		op         string // s(ubscribe), p(ublish), r (presence)
		channel    string
		user       string
		subscribed bool
		want       Decision
	}{
		// The case: anonymous publish into someone else's channel.
		{on, "p", "user:42", anon, false, DenyUnknownNamespace},
		{on, "p", "news", anon, false, DenyReadOnly},
		{on, "p", "news", "42", true, DenyReadOnly},
		{on, "s", "news", anon, false, DenyAnonymous},
		{on, "s", "news", "42", false, Allow},
		{on, "s", "nope:x", "42", false, DenyUnknownNamespace},
		{on, "s", "bad channel", "42", false, DenyInvalidChannel},
		{on, "s", "public:lobby", anon, false, Allow},
		{on, "p", "public:lobby", anon, false, Allow},
		{on, "s", "chat:r1", anon, false, DenyAnonymous},
		{on, "s", "chat:r1", "7", false, Allow},
		{on, "p", "chat:r1", "7", false, DenyNotSubscribed},
		{on, "p", "chat:r1", "7", true, Allow},
		{on, "s", "private:x", "7", false, NeedToken},
		{on, "s", "private:x", anon, false, DenyAnonymous},
		{on, "p", "private:x", anon, false, DenyAnonymous},
		{on, "p", "private:x", "7", false, Allow},
		{on, "s", "billing:x", "7", false, AskProxy},
		{on, "s", "billing:x", anon, false, AskProxy},
		{on, "p", "billing:x", "7", false, AskProxy},
		{on, "p", "feed:x", "7", true, DenyReadOnly},
		// User-limited channels: listed users only, the name is the grant.
		{on, "s", "notifications#42", "42", false, Allow},
		{on, "s", "notifications#42", "43", false, DenyNotListed},
		{on, "s", "notifications#42", anon, false, DenyNotListed},
		{on, "s", "#42", "42", false, Allow},
		{on, "s", "dm#42,43", "43", false, Allow},
		{on, "s", "dm#42,43", "4", false, DenyNotListed},
		{on, "s", "private:dm#42,43", "42", false, Allow},
		{on, "s", "nope:dm#42", "42", false, DenyUnknownNamespace},
		{on, "p", "chat:dm#42,43", "44", true, DenyNotListed},
		{on, "p", "chat:dm#42,43", "43", true, Allow},
		{on, "p", "dm#42,43", "42", false, DenyReadOnly},
		// Presence.
		{on, "r", "news", "42", true, DenyNoPresence},
		{on, "r", "chat:r1", "42", true, Allow},
		{on, "r", "chat:r1", "42", false, Allow},
		{on, "r", "chat:r1", anon, false, DenyAnonymous},
		{on, "r", "public:x", anon, false, Allow},
		{on, "r", "private:x", "7", false, DenyNoPresence},
		// Auth off: the default and undeclared namespaces are open; declared ones keep their rules.
		{off, "s", "news", anon, false, Allow},
		{off, "p", "news", anon, false, Allow},
		{off, "p", "user:42", anon, false, Allow},
		{off, "p", "feed:x", anon, false, DenyReadOnly},
		{off, "s", "notifications#42", anon, false, DenyNotListed},
		{off, "r", "news", anon, false, DenyNoPresence},
		{off, "s", "bad/name", anon, false, DenyInvalidChannel},
		// The default namespace declared as "".
		{openDefault, "s", "news", anon, false, Allow},
		{openDefault, "p", "news", anon, false, DenyAnonymous},
		{openDefault, "p", "news", "1", false, Allow},
		{openDefault, "r", "news", anon, false, Allow},
	} {
		var got Decision
		ch := []byte(c.channel)
		switch c.op {
		case "s":
			got = c.p.Subscribe(ch, c.user)
		case "p":
			got = c.p.Publish(ch, c.user, c.subscribed)
		case "r":
			got = c.p.Presence(ch, c.user, c.subscribed)
		}
		if got != c.want {
			t.Errorf("auth=%v %s %q user %q subscribed=%v: got %v (%d), want %v (%d)",
				c.p.AuthOn(), c.op, c.channel, c.user, c.subscribed, got, got, c.want, c.want)
		}
	}
	if !on.JoinLeave([]byte("chat:x")) || on.JoinLeave([]byte("public:x")) || on.JoinLeave([]byte("nope:x")) {
		t.Error("JoinLeave follows the namespace")
	}
}

func TestDecisionZeroIsDenial(t *testing.T) {
	var d Decision
	if !d.Denied() || Allow.Denied() || NeedToken.Denied() || AskProxy.Denied() {
		t.Fatal("Denied")
	}
	for d := DenyInvalidChannel; d <= DenyNoPresence; d++ {
		if d.String() == "" || d.String() == "denied" {
			t.Errorf("decision %d has no message", d)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, c := range []struct {
		nss  []Namespace
		want string
	}{
		{[]Namespace{{Name: "a"}, {Name: "a"}}, "declared twice"},
		{[]Namespace{{Name: "a:b"}}, "not allowed"},
		{[]Namespace{{Name: "a#"}}, "not allowed"},
		{[]Namespace{{Name: strings.Repeat("n", 65)}}, "longer than 64"},
		{[]Namespace{{Name: "x", Subscribe: 9}}, "unknown rule"},
	} {
		if _, err := New(true, c.nss); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.nss, err, c.want)
		}
	}
	for _, s := range []string{"anyone", "authenticated", "token", "proxy"} {
		if r, err := ParseSubscribe(s); err != nil || r.String() != s {
			t.Errorf("ParseSubscribe(%q) = %v, %v", s, r, err)
		}
	}
	for _, s := range []string{"none", "subscribers", "authenticated", "anyone", "proxy"} {
		if r, err := ParsePublish(s); err != nil || r.String() != s {
			t.Errorf("ParsePublish(%q) = %v, %v", s, r, err)
		}
	}
	if _, err := ParseSubscribe("everyone"); err == nil || !strings.Contains(err.Error(), "anyone") {
		t.Errorf("ParseSubscribe(everyone): %v", err)
	}
}

// TestNoAllocation: permission checks add no allocation on subscribe or
// publish (the requirement), for every path through them.
func TestNoAllocation(t *testing.T) {
	p := benchPolicy()
	for _, ch := range [][]byte{[]byte("news"), []byte("chat:room-1"), []byte("dm#42,43"), []byte("nope:x"), []byte("private:x")} {
		if n := testing.AllocsPerRun(200, func() {
			_ = p.Subscribe(ch, "43")
			_ = p.Publish(ch, "43", true)
			_ = p.Presence(ch, "", false)
		}); n != 0 {
			t.Errorf("%s: %v allocations", ch, n)
		}
	}
}

func benchPolicy() *Policy {
	p, _ := New(true, []Namespace{
		{Name: "chat", Subscribe: SubscribeAuthenticated, Publish: PublishSubscribers, Presence: true},
		{Name: "private", Subscribe: SubscribeToken},
		{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}, {Name: "e"}, {Name: "f"},
	})
	return p
}

// go test -run '^$' -bench . -benchmem ./perm
func BenchmarkSubscribe(b *testing.B) {
	p := benchPolicy()
	for _, ch := range []string{"news", "chat:room-1", "dm#42,43,44,45", "nope:room"} {
		c := []byte(ch)
		b.Run(ch, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Subscribe(c, "45")
			}
		})
	}
}

func BenchmarkPublish(b *testing.B) {
	p := benchPolicy()
	c := []byte("chat:room-1")
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Publish(c, "45", true)
	}
}
