package routing

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/wsedge/wsedge/codec"
)

// TestSessionMove: a session captured in one router and imported into
// another keeps its identity and subscriptions, publishes reach it there,
// and neither the import nor the old side's Forget emits join or leave
// events or leaves anything behind in the old hub.
func TestSessionMove(t *testing.T) {
	type ev struct {
		ch     string
		joined bool
	}
	var mu sync.Mutex
	var events []ev
	onMember := func(_ *Session, ch string, joined bool) {
		mu.Lock()
		events = append(events, ev{ch, joined})
		mu.Unlock()
	}
	oldR, _ := newTestRouter(t, Options{Workers: 1})
	newR, _ := newTestRouter(t, Options{Workers: 1})
	oldR.Hub().OnMembership(onMember)
	newR.Hub().OnMembership(onMember)

	s := oldR.Open(&fakeConn{})
	if err := oldR.Hub().SetIdentityUntil(s, "alice", []byte(`{"n":1}`), 4102444800); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"news", "chat:1"} {
		if err := oldR.Hub().Subscribe(s, []byte(ch)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	events = nil // the two joins of the original subscribes
	mu.Unlock()

	st, err := oldR.ExportSession(s)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeConn{}
	moved, err := newR.ImportSession(f, st)
	if err != nil {
		t.Fatal(err)
	}
	oldR.Forget(s)

	if moved.User() != "alice" || string(moved.Info()) != `{"n":1}` || moved.Expires() != 4102444800 {
		t.Fatalf("identity = %q %s %d", moved.User(), moved.Info(), moved.Expires())
	}
	if !moved.ConnectedAt().Equal(s.ConnectedAt()) {
		t.Fatalf("connected at %v, was %v", moved.ConnectedAt(), s.ConnectedAt())
	}
	chs := moved.Channels()
	slices.Sort(chs)
	if !slices.Equal(chs, []string{"chat:1", "news"}) {
		t.Fatalf("channels = %v", chs)
	}
	if newR.Hub().UserConnections("alice") != 1 || oldR.Hub().UserConnections("alice") != 0 {
		t.Fatal("user index not moved")
	}
	if oldR.Hub().Subscribers("news") != 0 || newR.Hub().Subscribers("news") != 1 {
		t.Fatal("subscription not moved")
	}
	if err := newR.Hub().Publish("news", []byte(`"hi"`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := len(f.replies()); got != 1 {
		t.Fatalf("moved session got %d messages, want 1", got)
	}
	// Changes the server API made during the window, replayed.
	if err := newR.ApplySubscription(moved, "late", true); err != nil || newR.Hub().Subscribers("late") != 1 {
		t.Fatalf("replayed subscribe: %v, %d subscribers", err, newR.Hub().Subscribers("late"))
	}
	if err := newR.ApplySubscription(moved, "news", false); err != nil || newR.Hub().Subscribers("news") != 0 || moved.NumChannels() != 2 {
		t.Fatalf("replayed unsubscribe: %v, %d subscribers, %d channels", err, newR.Hub().Subscribers("news"), moved.NumChannels())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 0 {
		t.Fatalf("join/leave events during the move: %v", events)
	}
}

// TestExportBusy: a session with a message being handled is not captured
// (its reply would be lost); once the handler is done it is.
func TestExportBusy(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 1})
	release := make(chan struct{})
	started := make(chan struct{})
	r.Handle("slow", func(c *Context) error {
		close(started)
		<-release
		return c.Reply("done", nil)
	})
	f := &fakeConn{}
	s := r.Open(f)
	r.Dispatch(s, codec.OpText, []byte(`{"type":"slow","id":"1"}`))
	<-started
	if _, err := r.ExportSession(s); !errors.Is(err, ErrSessionBusy) {
		t.Fatalf("export while handling = %v, want ErrSessionBusy", err)
	}
	close(release)
	waitReplies(t, f, 1)
	for {
		_, err := r.ExportSession(s)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrSessionBusy) {
			t.Fatal(err)
		}
	}
}
