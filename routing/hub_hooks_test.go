package routing

import (
	"slices"
	"sync"
	"testing"
)

type interestLog struct {
	mu     sync.Mutex
	events []string
}

func (l *interestLog) hook(channel string, subscribed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := "-" + channel
	if subscribed {
		ev = "+" + channel
	}
	l.events = append(l.events, ev)
}

func (l *interestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.events
	l.events = nil
	return ev
}

func TestHubInterestHook(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 1})
	h := r.Hub()
	var log interestLog
	h.OnInterest(log.hook)
	s1 := r.Open(&fakeConn{}, testIP)
	s2 := r.Open(&fakeConn{}, testIP)
	for _, step := range []struct {
		name string
		do   func()
		want []string
	}{
		{"first subscriber", func() { _ = h.Subscribe(s1, []byte("a")) }, []string{"+a"}},
		{"second subscriber", func() { _ = h.Subscribe(s2, []byte("a")) }, nil},
		{"subscribe twice", func() { _ = h.Subscribe(s1, []byte("a")) }, nil},
		{"invalid name", func() { _ = h.Subscribe(s1, []byte("a b")) }, nil},
		{"one of two leaves", func() { _ = h.Unsubscribe(s1, []byte("a")) }, nil},
		{"not subscribed", func() { _ = h.Unsubscribe(s1, []byte("a")) }, nil},
		{"other channel", func() { _ = h.Subscribe(s1, []byte("b")) }, []string{"+b"}},
		{"last leaves", func() { _ = h.Unsubscribe(s2, []byte("a")) }, []string{"-a"}},
		{"session closes", func() { r.Closed(s1) }, []string{"-b"}},
		{"closed session", func() { _ = h.Subscribe(s1, []byte("c")) }, nil},
	} {
		step.do()
		if got := log.take(); !slices.Equal(got, step.want) {
			t.Fatalf("%s: hook saw %v, want %v", step.name, got, step.want)
		}
	}
	h.OnInterest(nil)
	_ = h.Subscribe(s2, []byte("d"))
	if got := log.take(); got != nil {
		t.Fatalf("removed hook saw %v", got)
	}
}

// The hook may call back into the hub: no lock is held while it runs.
func TestHubInterestHookReentrant(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 1})
	h := r.Hub()
	counts := map[string]int{}
	h.OnInterest(func(ch string, _ bool) { counts[ch] = h.Subscribers(ch) })
	s := r.Open(&fakeConn{}, testIP)
	_ = h.Subscribe(s, []byte("a"))
	_ = h.Unsubscribe(s, []byte("a"))
	_ = h.Subscribe(s, []byte("b"))
	r.Closed(s)
	if counts["a"] != 0 || counts["b"] != 0 {
		t.Fatalf("counts %v", counts)
	}
}
