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
		if got := s.subject(tc.channel); got != tc.subject {
			t.Errorf("subject(%q) = %q, want %q", tc.channel, got, tc.subject)
		}
		if got, ok := s.channel(tc.subject); !ok || got != tc.channel {
			t.Errorf("channel(%q) = %q, %v, want %q", tc.subject, got, ok, tc.channel)
		}
	}
}

func TestSubjectRejects(t *testing.T) {
	s, _ := newSubjects("app.ch")
	for _, subject := range []string{
		"", "app.ch", "app.ch.", "app.cha", "other.ch.x",
		"app.ch.a.b",   // two tokens
		"app.ch.a%2eb", // lower-case escape: another spelling
		"app.ch.a%41",  // needless escape of 'A'
		"app.ch.a%4",   // short escape
		"app.ch.a%",    // short escape
		"app.ch.a%G1",  // not hex
		"app.ch.*", "app.ch.>", "app.ch.a b",
	} {
		if ch, ok := s.channel(subject); ok {
			t.Errorf("channel(%q) = %q, want rejected", subject, ch)
		}
	}
}

func TestSubjectPrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{
		{"wsedge.ch", true}, {"a", true}, {"tenant-1.wsedge", true},
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
		subj := s.subject(channel)
		tok := subj[len(s.prefix):]
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' {
				t.Fatalf("subject %q of %q has byte %q in its token", subj, channel, c)
			}
		}
		back, ok := s.channel(subj)
		if !ok || back != channel {
			t.Fatalf("channel(subject(%q)) = %q, %v", channel, back, ok)
		}
		if !s.is(subj, []byte(channel)) {
			t.Fatalf("is(subject(%q), %q) = false", channel, channel)
		}
		// is agrees with channel on arbitrary subjects.
		if other := s.prefix + channel; s.is(other, []byte(channel)) {
			if ch, ok := s.channel(other); !ok || ch != channel {
				t.Fatalf("is(%q, %q) but channel = %q, %v", other, channel, ch, ok)
			}
		}
		// Parsing arbitrary input never panics, and what it accepts maps back to itself.
		if ch, ok := s.channel(s.prefix + channel); ok && s.subject(ch) != s.prefix+channel {
			t.Fatalf("subject %q parsed as %q, which maps to %q", s.prefix+channel, ch, s.subject(ch))
		}
		if routing.ValidChannel([]byte(channel)) && len(tok) > 3*routing.MaxChannelLen {
			t.Fatalf("subject %q too long", subj)
		}
	})
}
