package natsbroker

import (
	"testing"

	"github.com/wsedge/wsedge/routing"
)

func TestSubjectMapping(t *testing.T) {
	s, err := newSubjects(DefaultSubjectPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ channel, subject string }{
		{"room", "wsedge.ch.room"},
		{"a.b", "wsedge.ch.a%2Eb"},
		{"a.b.", "wsedge.ch.a%2Eb%2E"},
		{".", "wsedge.ch.%2E"},
		{"room:1_x-Y", "wsedge.ch.room:1_x-Y"},
		{"*", "wsedge.ch.%2A"}, // never valid in routing, still one safe token
		{">", "wsedge.ch.%3E"},
		{"a b%", "wsedge.ch.a%20b%25"},
		{"é", "wsedge.ch.%C3%A9"},
	} {
		if got := s.subject(routing.KindChannel, tc.channel); got != tc.subject {
			t.Errorf("subject(%q) = %q, want %q", tc.channel, got, tc.subject)
		}
		if kind, got, ok := s.target(tc.subject); !ok || got != tc.channel || kind != routing.KindChannel {
			t.Errorf("target(%q) = %v %q, %v, want %q", tc.subject, kind, got, ok, tc.channel)
		}
		// The same token under the user prefix is the user of that id.
		user := "wsedge.user." + tc.subject[len("wsedge.ch."):]
		if got := s.subject(routing.KindUser, tc.channel); got != user {
			t.Errorf("user subject(%q) = %q, want %q", tc.channel, got, user)
		}
		if kind, got, ok := s.target(user); !ok || got != tc.channel || kind != routing.KindUser {
			t.Errorf("target(%q) = %v %q, %v", user, kind, got, ok)
		}
	}
	if s.cmd != "wsedge.cmd" {
		t.Errorf("command subject %q", s.cmd)
	}
}

func TestSubjectRejects(t *testing.T) {
	s, _ := newSubjects("app")
	for _, subject := range []string{
		"", "app", "app.ch", "app.ch.", "app.cha", "other.ch.x", "app.cmd", "app.user.", "app.users.x",
		"app.ch.a.b",   // two tokens
		"app.ch.a%2eb", // lower-case escape: another spelling
		"app.ch.a%41",  // needless escape of 'A'
		"app.ch.a%4",   // short escape
		"app.ch.a%",    // short escape
		"app.ch.a%G1",  // not hex
		"app.ch.*", "app.ch.>", "app.ch.a b", "app.user.a.b",
	} {
		if kind, ch, ok := s.target(subject); ok {
			t.Errorf("target(%q) = %v %q, want rejected", subject, kind, ch)
		}
	}
}

func TestSubjectPrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{
		{"wsedge", true}, {"wsedge.ch", true}, {"a", true}, {"tenant-1.wsedge", true},
		{"", false}, {".a", false}, {"a.", false}, {"a..b", false}, {"a.*", false},
		{"a.>", false}, {"a b", false}, {"a%b", false},
	} {
		if _, err := newSubjects(tc.prefix); (err == nil) != tc.ok {
			t.Errorf("newSubjects(%q): %v", tc.prefix, err)
		}
	}
}

// Every channel maps to one subject token and back; no two channels share a subject.
func FuzzSubject(f *testing.F) {
	for _, seed := range []string{"room", "a.b", "..", "a%2Eb", "room:1_x-Y", "*>", "é"} {
		f.Add(seed)
	}
	s, _ := newSubjects(DefaultSubjectPrefix)
	f.Fuzz(func(t *testing.T, channel string) {
		if channel == "" {
			return
		}
		subj := s.subject(routing.KindChannel, channel)
		tok := subj[len(s.channel):]
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' {
				t.Fatalf("subject %q of %q has byte %q in its token", subj, channel, c)
			}
		}
		_, back, ok := s.target(subj)
		if !ok || back != channel {
			t.Fatalf("target(subject(%q)) = %q, %v", channel, back, ok)
		}
		if !s.is(subj, routing.KindChannel, channel) {
			t.Fatalf("is(subject(%q), %q) = false", channel, channel)
		}
		// is agrees with target on arbitrary subjects.
		if other := s.channel + channel; s.is(other, routing.KindChannel, channel) {
			if _, ch, ok := s.target(other); !ok || ch != channel {
				t.Fatalf("is(%q, %q) but target = %q, %v", other, channel, ch, ok)
			}
		}
		// Parsing arbitrary input never panics, and what it accepts maps back to itself.
		if kind, ch, ok := s.target(s.channel + channel); ok && s.subject(kind, ch) != s.channel+channel {
			t.Fatalf("subject %q parsed as %q, which maps to %q", s.channel+channel, ch, s.subject(kind, ch))
		}
		if routing.ValidChannel([]byte(channel)) && len(tok) > 3*routing.MaxChannelLen {
			t.Fatalf("subject %q too long", subj)
		}
	})
}
