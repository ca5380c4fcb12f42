package routing

import (
	"sync"
	"testing"
)

// Server-side subscriptions: the notice goes out once, before the channel's messages; a
// repeated subscribe or unsubscribe reports false and sends nothing; membership changes
// (subscribe, unsubscribe, close) reach the OnMembership hook once each.
func TestSubscribeNotice(t *testing.T) {
	h := NewHub(0)
	var mu sync.Mutex
	var events []string
	h.OnMembership(func(s *Session, ch string, joined bool) {
		mu.Lock()
		defer mu.Unlock()
		ev := "leave "
		if joined {
			ev = "join "
		}
		events = append(events, ev+ch)
	})
	r := New(Options{Workers: 1, Hub: h})
	defer r.Close()
	conn := &fakeConn{}
	s := r.Open(conn)
	for i, want := range []bool{true, false} {
		added, err := h.SubscribeNotice(s, []byte("dm#42"), []byte(`{"type":"subscribed","channel":"dm#42"}`))
		if err != nil || added != want {
			t.Fatalf("subscribe %d: added %v, %v; want %v", i, added, err, want)
		}
	}
	if err := h.Publish("dm#42", []byte(`1`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if !s.Subscribed([]byte("dm#42")) || s.Subscribed([]byte("dm#43")) || s.NumChannels() != 1 {
		t.Fatalf("Subscribed/NumChannels wrong: %v", s.Channels())
	}
	for i, want := range []bool{true, false} {
		removed, err := h.UnsubscribeNotice(s, []byte("dm#42"), []byte(`{"type":"unsubscribed","channel":"dm#42"}`))
		if err != nil || removed != want {
			t.Fatalf("unsubscribe %d: removed %v, %v; want %v", i, removed, err, want)
		}
	}
	if _, err := h.SubscribeNotice(s, []byte("bad name"), nil); err == nil {
		t.Fatal("invalid channel accepted")
	}
	if err := h.Subscribe(s, []byte("news")); err != nil {
		t.Fatal(err)
	}
	r.Closed(s)
	sameList(t, "messages", conn.replies(), []string{
		`{"type":"subscribed","channel":"dm#42"}`,
		`{"type":"message","channel":"dm#42","data":1}`,
		`{"type":"unsubscribed","channel":"dm#42"}`,
	})
	mu.Lock()
	defer mu.Unlock()
	sameList(t, "membership", events, []string{"join dm#42", "leave dm#42", "join news", "leave news"})
}
