package natsbroker

import (
	"slices"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

// rawClient is a plain nats.go connection: a backend, or an attacker, on the NATS server.
func rawClient(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// A backend publishes plain JSON data on a channel's subject; subscribers on every node get it
// as a channel message, exactly as if a client had published it.
func TestBackendPublishesPlainJSON(t *testing.T) {
	ns := natsServer(t, -1, 0)
	a := newNode(t, ns.ClientURL())
	b := newNode(t, ns.ClientURL())
	fa, _ := a.subscriber("orders")
	fb, _ := b.subscriber("a.b")
	backend := rawClient(t, ns.ClientURL())
	for _, tc := range []struct{ subject, data string }{
		{"wsedge.ch.orders", `{"id":1,"total":"9.90"}`},
		{"wsedge.ch.orders", " [1, 2]\n"}, // surrounding whitespace is dropped
		{"wsedge.ch.orders", `"é"`},
		{"wsedge.ch.a%2Eb", `null`}, // a '.' in a channel is %2E in its subject
	} {
		if err := backend.Publish(tc.subject, []byte(tc.data)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "backend messages", func() bool { return len(fa.messages()) == 3 && len(fb.messages()) == 1 })
	want := []string{message("orders", `{"id":1,"total":"9.90"}`), message("orders", `[1, 2]`), message("orders", `"é"`)}
	if got := fa.messages(); !slices.Equal(got, want) {
		t.Fatalf("node A got %s", join(got))
	}
	if got := fb.messages(); got[0] != message("a.b", "null") {
		t.Fatalf("node B got %s", got[0])
	}
	if st := a.b.Stats(); st.Received != 3 || st.Malformed != 0 {
		t.Fatalf("node A stats %+v", st)
	}
}

// Whatever else arrives on wsedge subjects is counted and dropped, never written to clients;
// a message of an unknown wire version is counted as such.
func TestBadMessagesDropped(t *testing.T) {
	ns := natsServer(t, -1, 0)
	n := newNode(t, ns.ClientURL())
	f, _ := n.subscriber("a.b")
	fu, su := n.open()
	if err := n.hub.SetIdentity(su, "u1", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the user subscription", func() bool { return n.b.Stats().Subscriptions == 2 })
	n.flush()
	raw := rawClient(t, ns.ClientURL())
	good := wireMessage(kindChannel, "a.b", message("a.b", "1"))
	otherVersion := append([]byte{2}, good[1:]...)
	critical := append([]byte(nil), good...)
	critical[3] |= 0x01 // a must-understand flag this node does not know
	for _, bad := range []struct {
		subject string
		data    []byte
	}{
		{"wsedge.ch.a%2Eb", []byte(`{"type":`)},                                   // not JSON
		{"wsedge.ch.a%2Eb", []byte("\"\xff\"")},                                   // not UTF-8
		{"wsedge.ch.a%2Eb", []byte(``)},                                           // empty
		{"wsedge.ch.a%2Eb", good[:5]},                                             // truncated header
		{"wsedge.ch.a%2Eb", good[:9]},                                             // truncated fields
		{"wsedge.ch.a%2Eb", wireMessage(kindChannel, "a.c", message("a.c", "1"))}, // names another channel
		{"wsedge.ch.a%2Eb", wireMessage(kindUser, "a.b", "{}")},                   // a user message on a channel subject
		{"wsedge.ch.a%2Eb", wireMessage(kindChannel, "a.b", "\"\xff\"")},          // payload not UTF-8
		{"wsedge.user.u1", []byte(`{"plain":"json"}`)},                            // plain JSON on a user subject
		{"wsedge.ch.a%2Eb", otherVersion},                                         // unknown version
		{"wsedge.ch.a%2Eb", critical},                                             // unknown critical flag
	} {
		if err := raw.Publish(bad.subject, bad.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Publish("wsedge.ch.a%2Eb", good); err != nil {
		t.Fatal(err)
	}
	if err := raw.Publish("wsedge.user.u1", wireMessage(kindUser, "u1", `{"type":"note"}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the good messages", func() bool { return len(f.messages()) == 1 && len(fu.messages()) == 1 })
	if got := f.messages()[0]; got != message("a.b", "1") {
		t.Fatalf("channel subscriber got %s", got)
	}
	if got := fu.messages()[0]; got != `{"type":"note"}` {
		t.Fatalf("user got %s", got)
	}
	eventually(t, "the counts", func() bool {
		st := n.b.Stats()
		return st.Malformed == 9 && st.UnknownVersion == 2 && st.Received == 2
	})
}

// prepared is a server message to hand to Hub.Send.
func prepared(payload string) *codec.Prepared {
	return codec.NewPrepared(codec.OpText, []byte(payload))
}

// wireMessage is what a node publishes for a channel or user message.
func wireMessage(kind uint8, target, payload string) []byte {
	e := envelope{kind: kind, origin: "test", target: target}
	return appendEnvelope(nil, &e, []byte(payload))
}

// A user message reaches that user's connections on every node; a publication excluding one
// client skips it on whichever node it lives.
func TestUsersAndExclusionAcrossNodes(t *testing.T) {
	ns := natsServer(t, -1, 0)
	a := newNode(t, ns.ClientURL())
	b := newNode(t, ns.ClientURL())
	fa, sa := a.open()
	fb, sb := b.open()
	fc, sc := b.open()
	for _, x := range []struct {
		n    *node
		s    *routing.Session
		user string
	}{{a, sa, "42"}, {b, sb, "42"}, {b, sc, "7"}} {
		if err := x.n.hub.SetIdentity(x.s, x.user, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A user's first connection subscribes in the background (it may be identified on an
	// event loop): wait until both nodes listen, and the server knows.
	eventually(t, "user subscriptions", func() bool { return a.b.Stats().Subscriptions == 1 && b.b.Stats().Subscriptions == 2 })
	a.flush()
	b.flush()
	note := `{"type":"note","data":1}`
	if err := a.hub.Send(routing.Publication{Kind: routing.KindUser, Target: "42", Payload: prepared(note)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "user 42 on both nodes", func() bool { return len(fa.messages()) == 1 && len(fb.messages()) == 1 })
	if fa.messages()[0] != note || fb.messages()[0] != note || len(fc.messages()) != 0 {
		t.Fatalf("got %s / %s / %s", join(fa.messages()), join(fb.messages()), join(fc.messages()))
	}

	// Exclusion: all three subscribe to a channel; A publishes excluding B's first client.
	for _, x := range []struct {
		n *node
		f *fakeConn
		s *routing.Session
	}{{a, fa, sa}, {b, fb, sb}, {b, fc, sc}} {
		x.n.subscribe(x.f, x.s, "room", 1)
	}
	if err := a.hub.Publish("room", []byte("1"), routing.PublishOptions{Exclude: sb.ClientID()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the channel message", func() bool { return len(fa.messages()) == 2 && len(fc.messages()) == 1 })
	b.publish("room", `"fence"`) // B's subscribers get the fence after anything A sent
	eventually(t, "the fence", func() bool { return len(fc.messages()) == 2 })
	if got := fb.messages(); !slices.Equal(got, []string{note, message("room", `"fence"`)}) {
		t.Fatalf("the excluded client got %s", join(got))
	}
}
