package natsbroker

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

// A publish on node A reaches every subscriber on A and on B exactly once, and nobody else.
func TestTwoNodesExactlyOnce(t *testing.T) {
	for _, tc := range modes() {
		t.Run(tc.name, func(t *testing.T) {
			ns := natsServer(t, -1, 0)
			a := newNode(t, ns.ClientURL(), tc.mode)
			b := newNode(t, ns.ClientURL(), tc.mode)
			const ch = "room.1:x-y_z" // '.' must not split the subject
			var subs []*fakeConn
			for _, n := range []*node{a, b} {
				for range 2 {
					f, _ := n.subscriber(ch)
					subs = append(subs, f)
				}
			}
			other, _ := b.subscriber("room")
			prefixed, _ := b.subscriber("room.1:x-y_z.more")
			a.flush()
			b.flush()

			if got := a.publish(ch, `{"n":1}`); got != `{"type":"ack","id":"p"}` {
				t.Fatalf("publish reply %s", got)
			}
			// A fence from B: B publishes only after its subscribers got message 1, and the
			// server forwards B's fence to A after anything it sent A for message 1 (an echo
			// would land before it), so two messages each means no duplicate.
			eventually(t, "message 1 everywhere", func() bool {
				return !slices.ContainsFunc(subs, func(f *fakeConn) bool { return len(f.messages()) < 1 })
			})
			if got := b.publish(ch, `"fence"`); got != `{"type":"ack","id":"p"}` {
				t.Fatalf("publish reply %s", got)
			}
			eventually(t, "fence everywhere", func() bool {
				return !slices.ContainsFunc(subs, func(f *fakeConn) bool { return len(f.messages()) < 2 })
			})
			want := []string{message(ch, `{"n":1}`), message(ch, `"fence"`)}
			for i, f := range subs {
				if got := f.messages(); !slices.Equal(got, want) {
					t.Fatalf("subscriber %d got %s", i, join(got))
				}
			}
			// One frame per node, shared by all of its subscribers.
			for i := 0; i < len(subs); i += 2 {
				_, f0 := subs[i].snapshot()
				_, f1 := subs[i+1].snapshot()
				for k := range f0 {
					if unsafe.SliceData(f0[k]) != unsafe.SliceData(f1[k]) {
						t.Fatalf("node %d: subscribers got separate copies of frame %d", i/2, k)
					}
				}
			}
			for _, f := range []*fakeConn{other, prefixed} {
				if got := f.messages(); len(got) != 0 {
					t.Fatalf("subscriber of another channel got %s", join(got))
				}
			}
			if st := a.b.Stats(); st.Published != 1 || st.Received != 1 || st.Refused != 0 || st.Invalid != 0 || st.Delivered != 4 {
				t.Fatalf("node A stats %+v", st)
			}
		})
	}
}

// When the last local subscriber leaves (unsubscribe or connection closed), the node drops its
// NATS interest: the server stops sending, nobody here gets the channel's messages.
func TestLastUnsubscribeStopsInterest(t *testing.T) {
	ns := natsServer(t, -1, 0)
	a := newNode(t, ns.ClientURL(), modePerChannel)
	b := newNode(t, ns.ClientURL(), modePerChannel)
	base := ns.NumSubscriptions()

	f1, s1 := b.subscriber("x")
	f2, s2 := b.subscriber("x")
	fy, _ := b.subscriber("y")
	if st := b.b.Stats(); st.Subscriptions != 2 {
		t.Fatalf("node B holds %d NATS subscriptions, want 2 (x, y)", st.Subscriptions)
	}
	b.flush()
	if got := ns.NumSubscriptions(); got != base+2 {
		t.Fatalf("server has %d subscriptions, want %d", got, base+2)
	}

	b.unsubscribe(f1, s1, "x", 2) // one subscriber left: interest stays
	b.r.Closed(s2)                // the last one goes away with its connection
	if b.manual {
		b.b.interest("x", false)
	}
	eventually(t, "node B to drop x", func() bool { return b.b.Stats().Subscriptions == 1 })
	b.flush()
	if got := ns.NumSubscriptions(); got != base+1 {
		t.Fatalf("server has %d subscriptions, want %d", got, base+1)
	}

	a.publish("x", `"lost"`)
	a.publish("y", `"fence"`) // same publisher connection: the server handles x first
	eventually(t, "fence on y", func() bool { return len(fy.messages()) == 1 })
	if st := b.b.Stats(); st.Received != 1 {
		t.Fatalf("node B received %d messages from NATS, want 1 (the fence): %+v", st.Received, st)
	}
	for _, f := range []*fakeConn{f1, f2} {
		if got := f.messages(); len(got) != 0 {
			t.Fatalf("former subscriber got %s", join(got))
		}
	}

	// Subscribing again restores the interest.
	b.subscribe(f1, s1, "x", 3)
	a.publish("x", `"back"`)
	eventually(t, "message after resubscribe", func() bool { return len(f1.messages()) == 1 })
	if got := f1.messages()[0]; got != message("x", `"back"`) {
		t.Fatalf("got %s", got)
	}
}

// The same without interest tracking: messages still reach the node but nobody gets them.
func TestWildcardUnsubscribedGetsNothing(t *testing.T) {
	ns := natsServer(t, -1, 0)
	a := newNode(t, ns.ClientURL(), modeWildcard)
	b := newNode(t, ns.ClientURL(), modeWildcard)
	f, s := b.subscriber("x")
	fy, _ := b.subscriber("y")
	b.unsubscribe(f, s, "x", 2)
	a.publish("x", `"lost"`)
	a.publish("y", `"fence"`)
	eventually(t, "fence on y", func() bool { return len(fy.messages()) == 1 })
	if got := f.messages(); len(got) != 0 {
		t.Fatalf("former subscriber got %s", join(got))
	}
	if st := b.b.Stats(); st.Received != 2 || st.Delivered != 1 {
		t.Fatalf("node B stats %+v", st)
	}
}

// NATS down: publishing answers UNAVAILABLE and nobody gets the message; NATS back on the
// same address: the nodes reconnect, resubscribe, and delivery resumes.
func TestBrokerDownThenBack(t *testing.T) {
	for _, tc := range modes() {
		t.Run(tc.name, func(t *testing.T) {
			ns := natsServer(t, -1, 0)
			port := serverPort(ns)
			a := newNode(t, ns.ClientURL(), tc.mode)
			b := newNode(t, ns.ClientURL(), tc.mode)
			fa, _ := a.subscriber("news")
			fb, _ := b.subscriber("news")

			ns.Shutdown()
			ns.WaitForShutdown()
			eventually(t, "disconnect noticed", func() bool { return !a.b.Connected() })

			got := a.publish("news", `"while down"`)
			if want := `{"type":"error","id":"p","error":{"code":"UNAVAILABLE","message":"channel broker unavailable"}}`; got != want {
				t.Fatalf("publish while down answered %s", got)
			}
			err := a.b.Publish("news", codec.AppendFrame(nil, codec.OpText, true, []byte(message("news", "1"))))
			var re *routing.Error
			if !errors.Is(err, ErrUnavailable) || !errors.As(err, &re) || re.Code != routing.CodeUnavailable {
				t.Fatalf("Publish while down: %v", err)
			}
			if len(fa.messages()) != 0 {
				t.Fatalf("local subscriber got a message that was refused: %s", join(fa.messages()))
			}

			natsServer(t, port, 0)
			eventually(t, "reconnect", func() bool { return a.b.Connected() && b.b.Connected() })
			a.flush()
			b.flush() // B's subscription is back on the server
			if got := a.publish("news", `"back"`); got != `{"type":"ack","id":"p"}` {
				t.Fatalf("publish after restart answered %s", got)
			}
			want := message("news", `"back"`)
			for name, f := range map[string]*fakeConn{"A": fa, "B": fb} {
				eventually(t, "delivery on "+name, func() bool { return len(f.messages()) == 1 })
				if got := f.messages()[0]; got != want {
					t.Fatalf("node %s got %s", name, got)
				}
			}
			if st := a.b.Stats(); st.Refused != 2 {
				t.Fatalf("node A refused %d publishes, want 2", st.Refused)
			}
		})
	}
}

// A node that starts while NATS is down (RetryOnFailedConnect) serves and answers UNAVAILABLE,
// then works once NATS is there. Without the option New fails with ErrUnavailable.
func TestStartWhileDown(t *testing.T) {
	ns := natsServer(t, -1, 0)
	port, url := serverPort(ns), ns.ClientURL()
	ns.Shutdown()
	ns.WaitForShutdown()

	if _, err := New(url, routing.NewHub(0), nil, ConnectTimeout(time.Second)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("New while down: %v", err)
	}
	a := newNode(t, url, modePerChannel, RetryOnFailedConnect())
	f, _ := a.subscriber("c")
	if got := a.publish("c", "1"); !strings.Contains(got, `"UNAVAILABLE"`) {
		t.Fatalf("publish before connect answered %s", got)
	}
	natsServer(t, port, 0)
	eventually(t, "connect", a.b.Connected)
	if got := a.publish("c", "2"); got != `{"type":"ack","id":"p"}` {
		t.Fatalf("publish after connect answered %s", got)
	}
	if got := f.messages(); !slices.Equal(got, []string{message("c", "2")}) {
		t.Fatalf("subscriber got %s", join(got))
	}
}

// Frames larger than the server's max_payload are refused with INVALID_MESSAGE.
func TestTooLarge(t *testing.T) {
	ns := natsServer(t, -1, 1024)
	a := newNode(t, ns.ClientURL(), modePerChannel)
	if got := a.publish("c", `"`+strings.Repeat("x", 2000)+`"`); !strings.Contains(got, `"code":"INVALID_MESSAGE"`) {
		t.Fatalf("publish answered %s", got)
	}
	if got := a.publish("c", `"small"`); got != `{"type":"ack","id":"p"}` {
		t.Fatalf("publish answered %s", got)
	}
}

// Whatever else is published on a channel subject is not written to WebSocket streams.
func TestForeignMessagesIgnored(t *testing.T) {
	ns := natsServer(t, -1, 0)
	for _, tc := range modes() {
		t.Run(tc.name, func(t *testing.T) {
			b := newNode(t, ns.ClientURL(), tc.mode)
			f, _ := b.subscriber("a.b")
			b.flush()
			raw, err := nats.Connect(ns.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			good := codec.AppendFrame(nil, codec.OpText, true, []byte(message("a.b", "1")))
			for _, bad := range [][]byte{
				[]byte(`{"type":"message"}`),                           // not a frame
				good[:len(good)-1],                                     // truncated
				codec.AppendFrame(nil, codec.OpBinary, true, good[2:]), // binary
			} {
				if err := raw.Publish("wsedge.ch.a%2Eb", bad); err != nil {
					t.Fatal(err)
				}
			}
			if err := raw.Publish("wsedge.ch.a%2eb", good); err != nil { // not our spelling
				t.Fatal(err)
			}
			if err := raw.Publish("wsedge.ch.a%2Eb", good); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the good frame", func() bool { return len(f.messages()) == 1 })
			if got := f.messages()[0]; got != message("a.b", "1") {
				t.Fatalf("got %s", got)
			}
			// In per-channel mode the lower-case spelling is another subject, not received.
			if st := b.b.Stats(); st.Invalid < 3 || st.Received != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// Close drains: it is idempotent, later publishes answer UNAVAILABLE, and it ends in time.
func TestClose(t *testing.T) {
	ns := natsServer(t, -1, 0)
	hub := routing.NewHub(0)
	b, err := New(ns.ClientURL(), hub, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > waitFor {
		t.Fatalf("Close took %v", d)
	}
	if err := b.Publish("c", codec.AppendFrame(nil, codec.OpText, true, []byte("{}"))); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Publish after Close: %v", err)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		hub  *routing.Hub
		opt  Option
	}{
		{"nil hub", nil, nil},
		{"empty prefix", routing.NewHub(0), SubjectPrefix("")},
		{"wildcard prefix", routing.NewHub(0), SubjectPrefix("a.*")},
		{"empty token", routing.NewHub(0), SubjectPrefix("a..b")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []Option{}
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			if _, err := New("nats://127.0.0.1:1", tc.hub, nil, opts...); err == nil || errors.Is(err, ErrUnavailable) {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

// With the hub's interest hook (routing/hub_hooks.go) the broker subscribes by itself, before
// the subscribe is acknowledged, and unsubscribes when the last subscriber leaves.
func TestHubInterestHook(t *testing.T) {
	if _, ok := any(routing.NewHub(0)).(interestHub); !ok {
		t.Skip("routing.Hub has no OnInterest hook yet (see README.md, proposed patch)")
	}
	ns := natsServer(t, -1, 0)
	base := ns.NumSubscriptions()
	a := newNode(t, ns.ClientURL(), modeAuto)
	b := newNode(t, ns.ClientURL(), modeAuto)
	if !b.b.perChannel || b.manual {
		t.Fatal("hooked hub did not select per-channel subscriptions")
	}
	f, s := b.subscriber("h")
	// The ack came after the server confirmed the subscription: no flush needed.
	if got := ns.NumSubscriptions(); got != base+1 {
		t.Fatalf("server has %d subscriptions after the ack, want %d", got, base+1)
	}
	a.publish("h", "1")
	eventually(t, "delivery", func() bool { return len(f.messages()) == 1 })
	b.r.Closed(s)
	eventually(t, "interest dropped", func() bool { return b.b.Stats().Subscriptions == 0 })
}
