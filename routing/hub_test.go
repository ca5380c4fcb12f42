package routing

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/wsedge/wsedge/codec"
)

// subscribeAll opens n sessions subscribed to ch directly through the hub.
func subscribeAll(t testing.TB, r *Router, ch string, n int) ([]*fakeConn, []*Session) {
	t.Helper()
	fs := make([]*fakeConn, n)
	ss := make([]*Session, n)
	for i := range n {
		fs[i] = &fakeConn{}
		ss[i] = r.Open(fs[i])
		if err := r.Hub().Subscribe(ss[i], []byte(ch)); err != nil {
			t.Fatal(err)
		}
	}
	return fs, ss
}

func publish(t testing.TB, r *Router, id, ch, data string) *fakeConn {
	t.Helper()
	f := &fakeConn{}
	s := r.Open(f)
	r.Dispatch(s, codec.OpText, fmt.Appendf(nil, `{"type":"publish","id":%q,"channel":%q,"data":%s}`, id, ch, data))
	waitReplies(t, f, 1)
	return f
}

func TestPublishFanOut10k(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 2})
	const n = 10000
	fs, _ := subscribeAll(t, r, "big", n)
	pub := publish(t, r, "p", "big", `{"n":1}`)
	if got := pub.replies(); got[0] != `{"type":"ack","id":"p"}` {
		t.Fatalf("publisher got %q", got)
	}
	first := fs[0].frames
	if len(first) != 1 {
		t.Fatalf("subscriber 0 got %d frames", len(first))
	}
	want := `{"type":"message","channel":"big","data":{"n":1}}`
	if string(framePayload(first[0])) != want || first[0][0] != 0x81 {
		t.Fatalf("frame = %q", first[0])
	}
	for i, f := range fs {
		if len(f.frames) != 1 || len(f.msgs) != 1 {
			t.Fatalf("subscriber %d got %d frames, %d messages", i, len(f.frames), len(f.msgs))
		}
		if unsafe.SliceData(f.frames[0]) != unsafe.SliceData(first[0]) || len(f.frames[0]) != len(first[0]) {
			t.Fatalf("subscriber %d got its own copy of the frame", i)
		}
		if f.flushes != 1 {
			t.Fatalf("subscriber %d flushed %d times", i, f.flushes)
		}
	}
}

func TestUnsubscribeAndClosedStopDelivery(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 2})
	fs, ss := subscribeAll(t, r, "room", 3)
	if err := r.Hub().Unsubscribe(ss[0], []byte("room")); err != nil {
		t.Fatal(err)
	}
	r.Closed(ss[1])
	if got := r.Hub().Subscribers("room"); got != 1 {
		t.Fatalf("Subscribers = %d, want 1", got)
	}
	publish(t, r, "1", "room", `"hi"`)
	if fs[0].frameCount() != 0 || fs[1].frameCount() != 0 || fs[2].frameCount() != 1 {
		t.Fatalf("frames: %d %d %d, want 0 0 1", fs[0].frameCount(), fs[1].frameCount(), fs[2].frameCount())
	}
	r.Closed(ss[2])
	if got := r.Hub().Subscribers("room"); got != 0 {
		t.Fatalf("Subscribers = %d after all left", got)
	}
	if err := r.Hub().Subscribe(ss[2], []byte("room")); err == nil {
		t.Fatal("closed session could subscribe")
	}
	if len(ss[2].Channels()) != 0 {
		t.Fatalf("closed session keeps channels %v", ss[2].Channels())
	}
}

func TestSlowSubscriberDoesNotAffectOthers(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 2})
	fs, _ := subscribeAll(t, r, "feed", 5)
	fs[2].limit = 1 // accepts one frame, then its queue is "full"
	publish(t, r, "1", "feed", "1")
	publish(t, r, "2", "feed", "2")
	publish(t, r, "3", "feed", "3")
	for i, f := range fs {
		want := 3
		if i == 2 {
			want = 1
		}
		if got := f.frameCount(); got != want {
			t.Errorf("subscriber %d got %d frames, want %d", i, got, want)
		}
	}
	if !fs[2].closed {
		t.Error("slow subscriber not closed by its queue bound")
	}
	d, dropped := r.Hub().Deliver(Publication{Kind: KindChannel, Target: "feed", Payload: ChannelMessage("feed", nil)})
	if d != 4 || dropped != 1 {
		t.Fatalf("Deliver = %d delivered, %d dropped; want 4, 1", d, dropped)
	}
}

func TestChannelCap(t *testing.T) {
	tests := []struct {
		max, subscribe, wantOK int
	}{
		{max: 3, subscribe: 5, wantOK: 3},
		{max: 0, subscribe: DefaultMaxChannels + 1, wantOK: DefaultMaxChannels},
		{max: -1, subscribe: 200, wantOK: 200},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			r, _ := newTestRouter(t, Options{Workers: 1, Hub: NewHub(tc.max)})
			f := &fakeConn{}
			s := r.Open(f)
			for i := range tc.subscribe {
				r.Dispatch(s, codec.OpText, fmt.Appendf(nil, `{"type":"subscribe","channel":"c%d"}`, i))
			}
			r.Dispatch(s, codec.OpText, []byte(`{"type":"subscribe","channel":"c0"}`)) // already subscribed: ack
			got := waitReplies(t, f, tc.subscribe+1)
			ok := 0
			for _, g := range got[:tc.subscribe] {
				switch {
				case g == `{"type":"ack"}`:
					ok++
				case strings.Contains(g, `"INVALID_MESSAGE"`) && strings.Contains(g, "too many channels"):
				default:
					t.Fatalf("unexpected reply %s", g)
				}
			}
			if ok != tc.wantOK || got[tc.subscribe] != `{"type":"ack"}` {
				t.Fatalf("%d acks (want %d), resubscribe -> %s", ok, tc.wantOK, got[tc.subscribe])
			}
			if len(s.Channels()) != tc.wantOK {
				t.Fatalf("Channels() has %d", len(s.Channels()))
			}
		})
	}
}

// TestClosedRacesSubscribe closes sessions while their subscribes are being handled: no
// subscription may outlive its session.
func TestClosedRacesSubscribe(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 4})
	const n = 200
	ss := make([]*Session, n)
	for i := range ss {
		ss[i] = r.Open(&fakeConn{})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range ss {
			r.Closed(ss[i])
		}
	}()
	for _, s := range ss {
		for c := range 5 {
			r.Dispatch(s, codec.OpText, fmt.Appendf(nil, `{"type":"subscribe","channel":"c%d"}`, c))
		}
	}
	<-done
	waitFor(t, "queue to empty", func() bool { return r.Queued() == 0 })
	r.Close() // waits for handlers still running
	for c := range 5 {
		if got := r.Hub().Subscribers(fmt.Sprintf("c%d", c)); got != 0 {
			t.Errorf("channel c%d keeps %d subscribers of closed sessions", c, got)
		}
	}
}
