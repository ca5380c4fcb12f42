package bench

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseSubscriptions(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Subscriptions
		bad  bool
	}{
		{spec: "", want: Subscriptions{}},
		{spec: "personal", want: Subscriptions{Personal: true}},
		{spec: "personal,shared:2/100", want: Subscriptions{Personal: true, K: 2, M: 100}},
		{spec: " shared:1/1 ", want: Subscriptions{K: 1, M: 1}},
		{spec: "shared:3/2", bad: true},
		{spec: "shared:0/10", bad: true},
		{spec: "shared:2", bad: true},
		{spec: "shared:x/10", bad: true},
		{spec: "private", bad: true},
	} {
		got, err := ParseSubscriptions(tc.spec)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("%q: got %+v, %v", tc.spec, got, err)
		}
		if !tc.bad && got.String() != strings.ReplaceAll(strings.TrimSpace(tc.spec), " ", "") {
			t.Errorf("%q: String() = %q", tc.spec, got.String())
		}
	}
}

func TestSubscriptionChannels(t *testing.T) {
	s := Subscriptions{Personal: true, K: 3, M: 5}
	seen := map[string]int{}
	for n := range 200 {
		ch := s.Channels(n)
		if len(ch) != 4 || ch[0] != fmt.Sprintf("personal.%d", n) {
			t.Fatalf("conn %d: %v", n, ch)
		}
		shared := slices.Clone(ch[1:])
		slices.Sort(shared)
		if len(slices.Compact(shared)) != 3 {
			t.Fatalf("conn %d: shared channels not distinct: %v", n, ch)
		}
		for _, c := range shared {
			seen[c]++
		}
		if !slices.Equal(ch, s.Channels(n)) {
			t.Fatalf("conn %d: channels differ between calls", n)
		}
	}
	if len(seen) != 5 {
		t.Fatalf("200 connections drew from %d of 5 shared channels: %v", len(seen), seen)
	}
}

// TestIdleSubscribed: an idle population on /ws subscribes every connection
// to its personal channel and K shared ones, and waits for all the acks.
func TestIdleSubscribed(t *testing.T) {
	ps := &pubsub{subs: newSubs()}
	tg := startServer(t, "/ws", ps.handle)
	sub, _ := ParseSubscriptions("personal,shared:2/10")
	r, err := Idle(t.Context(), IdleConfig{Common: Common{Target: tg}, Conns: 60, Hold: 10 * time.Millisecond, Subscribe: sub})
	if err != nil {
		t.Fatal(err)
	}
	if r.Held != 60 || r.Subscribed != 60 || r.Refused != 0 || r.Subscriptions != "personal,shared:2/10" {
		t.Fatalf("%+v", r)
	}
	personal := map[string]bool{}
	for _, chans := range ps.subscriptions() {
		if len(chans) != 3 || !strings.HasPrefix(chans[0], "personal.") || !strings.HasPrefix(chans[1], "shared.") || chans[1] == chans[2] {
			t.Fatalf("a connection subscribed %v", chans)
		}
		personal[chans[0]] = true
	}
	if len(personal) != 60 {
		t.Fatalf("%d distinct personal channels for 60 connections", len(personal))
	}
}

// TestIdleSubscribeRefused: refusals are counted per connection, by code.
func TestIdleSubscribeRefused(t *testing.T) {
	ps := &pubsub{subs: newSubs()}
	tg := startServer(t, "/ws", ps.handle)
	e, err := NewEngine(EngineConfig{Target: tg, Open: func(n int) [][]byte {
		ch := "ok"
		if n%2 == 1 {
			ch = "forbidden"
		}
		return subscribeMessages([]string{"a", ch})
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.Dial(10)
	waitFor(t.Context(), 10*time.Second, 10*time.Millisecond, func() bool {
		k := e.Counters()
		return k.Acked+k.Refused >= 10
	}, func() {})
	f := e.Close()
	if f.Counters.Acked != 5 || f.Counters.Refused != 5 || f.Causes["refused: PERMISSION_DENIED"] != 5 {
		t.Fatalf("%+v %v", f.Counters, f.Causes)
	}
}

func FuzzParseSubscriptions(f *testing.F) {
	f.Add("personal,shared:2/100")
	f.Add("shared:64/64")
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := ParseSubscriptions(spec)
		if err != nil {
			return
		}
		// An accepted spec gives a bounded, valid set of channels.
		if s.K < 0 || s.K > 64 || (s.K > 0 && s.K > s.M) || s.Count() > 65 {
			t.Fatalf("%q parsed as %+v", spec, s)
		}
		if s.K > 0 {
			if got := s.Channels(3); len(got) != s.Count() {
				t.Fatalf("%q: %d channels, want %d", spec, len(got), s.Count())
			}
		}
	})
}
