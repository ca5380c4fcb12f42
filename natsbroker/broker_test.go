package natsbroker

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/wsedge/wsedge/routing"
)

// A publish on node A reaches every subscriber on A and on B exactly once, and nobody else.
func TestTwoNodesExactlyOnce(t *testing.T) {
	ns := natsServer(t, -1, 0)
	a := newNode(t, ns.ClientURL())
	b := newNode(t, ns.ClientURL())
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

	if got := a.publish(ch, `{"n":1}`); got != `{"type":"ack","id":"p"}` {
		t.Fatalf("publish reply %s", got)
	}
	// A fence from B: B publishes only after its subscribers got message 1, and the server
	// forwards B's fence to A after anything it sent A for message 1 (an echo would land
	// before it), so two messages each means no duplicate.
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
	// A published one message and received one (the fence), delivered to its 2 subscribers.
	if st := a.b.Stats(); st.Published != 1 || st.Received != 1 || st.Refused != 0 || st.Malformed != 0 || st.Delivered != 2 || !st.Connected {
		t.Fatalf("node A stats %+v", st)
	}
}

// When the last local subscriber leaves (unsubscribe or connection closed), the node drops its
// NATS interest: the server stops sending, nobody here gets the channel's messages.
func TestLastUnsubscribeStopsInterest(t *testing.T) {
	ns := natsServer(t, -1, 0)
	a := newNode(t, ns.ClientURL())
	b := newNode(t, ns.ClientURL())
	base := ns.NumSubscriptions()

	f1, s1 := b.subscriber("x")
	f2, s2 := b.subscriber("x")
	fy, _ := b.subscriber("y")
	if st := b.b.Stats(); st.Subscriptions != 2 {
		t.Fatalf("node B holds %d NATS subscriptions, want 2 (x, y)", st.Subscriptions)
	}
	// The acks came after the server confirmed the subscriptions: no flush needed.
	if got := ns.NumSubscriptions(); got != base+2 {
		t.Fatalf("server has %d subscriptions, want %d", got, base+2)
	}

	b.unsubscribe(f1, s1, "x", 2) // one subscriber left: interest stays
	b.r.Closed(s2)                // the last one goes away with its connection
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

// NATS down: publishing answers UNAVAILABLE and nobody gets the message; NATS back on the
// same address: the nodes reconnect, resubscribe, and delivery resumes.
func TestBrokerDownThenBack(t *testing.T) {
	ns := natsServer(t, -1, 0)
	port := serverPort(ns)
	a := newNode(t, ns.ClientURL())
	b := newNode(t, ns.ClientURL())
	fa, _ := a.subscriber("news")
	fb, _ := b.subscriber("news")

	ns.Shutdown()
	ns.WaitForShutdown()
	eventually(t, "disconnect noticed", func() bool { return !a.b.Connected() })

	got := a.publish("news", `"while down"`)
	if want := `{"type":"error","id":"p","error":{"code":"UNAVAILABLE","message":"channel broker unavailable"}}`; got != want {
		t.Fatalf("publish while down answered %s", got)
	}
	err := a.b.Publish(routing.Publication{Kind: routing.KindChannel, Target: "news", Payload: routing.ChannelMessage("news", []byte("1"))})
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
	a := newNode(t, url, RetryOnFailedConnect())
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

// Messages larger than the server's max_payload are refused with INVALID_MESSAGE.
func TestTooLarge(t *testing.T) {
	ns := natsServer(t, -1, 1024)
	a := newNode(t, ns.ClientURL())
	if got := a.publish("c", `"`+strings.Repeat("x", 2000)+`"`); !strings.Contains(got, `"code":"INVALID_MESSAGE"`) {
		t.Fatalf("publish answered %s", got)
	}
	if got := a.publish("c", `"small"`); got != `{"type":"ack","id":"p"}` {
		t.Fatalf("publish answered %s", got)
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
	p := routing.Publication{Kind: routing.KindChannel, Target: "c", Payload: routing.ChannelMessage("c", nil)}
	if err := b.Publish(p); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Publish after Close: %v", err)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		node Node
		opt  Option
	}{
		{"nil node", nil, nil},
		{"empty prefix", routing.NewHub(0), SubjectPrefix("")},
		{"wildcard prefix", routing.NewHub(0), SubjectPrefix("a.*")},
		{"empty token", routing.NewHub(0), SubjectPrefix("a..b")},
		{"empty name", routing.NewHub(0), Name("")},
		{"long name", routing.NewHub(0), Name(strings.Repeat("n", maxNameLen+1))},
		{"cert without key", routing.NewHub(0), TLS("", "cert.pem", "")},
		{"missing credentials file", routing.NewHub(0), Credentials("/nonexistent/wsedge.creds")},
		{"missing CA file", routing.NewHub(0), TLS("/nonexistent/ca.pem", "", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []Option{}
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			if _, err := New("nats://127.0.0.1:1", tc.node, nil, opts...); err == nil || errors.Is(err, ErrUnavailable) {
				t.Fatalf("New: %v", err)
			}
		})
	}
}
