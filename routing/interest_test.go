package routing

import (
	"slices"
	"sync"
	"testing"
)

// interestLog is a Cluster that records the interest the hub reports ("+a": channel a gained
// its first local subscriber, "-a": lost its last; users as "+user:u").
type interestLog struct {
	mu     sync.Mutex
	events []string
	// hook, when set, runs inside Interest (to call back into the hub).
	hook func(kind Kind, target string)
}

func (l *interestLog) Publish(Publication) error { return nil }

func (l *interestLog) Interest(kind Kind, target string, on bool) {
	if l.hook != nil {
		l.hook(kind, target)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := "-"
	if on {
		ev = "+"
	}
	if kind == KindUser {
		ev += "user:"
	}
	l.events = append(l.events, ev+target)
}

func (l *interestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.events
	l.events = nil
	return ev
}

func TestHubInterest(t *testing.T) {
	h := NewHub(0)
	var log interestLog
	h.SetCluster(&log)
	r, _ := newTestRouter(t, Options{Workers: 1, Hub: h})
	s1 := r.Open(&fakeConn{})
	s2 := r.Open(&fakeConn{})
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
			t.Fatalf("%s: cluster saw %v, want %v", step.name, got, step.want)
		}
	}
}

// Interest may call back into the hub: no lock is held while it runs.
func TestHubInterestReentrant(t *testing.T) {
	h := NewHub(0)
	counts := map[string]int{}
	h.SetCluster(&interestLog{hook: func(kind Kind, target string) { counts[target] = h.Receivers(kind, target) }})
	r, _ := newTestRouter(t, Options{Workers: 1, Hub: h})
	s := r.Open(&fakeConn{})
	_ = h.Subscribe(s, []byte("a"))
	_ = h.Unsubscribe(s, []byte("a"))
	_ = h.Subscribe(s, []byte("b"))
	r.Closed(s)
	if counts["a"] != 0 || counts["b"] != 0 {
		t.Fatalf("counts %v", counts)
	}
}
