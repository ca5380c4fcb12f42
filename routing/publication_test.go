package routing

import (
	"errors"
	"slices"
	"testing"

	"github.com/wsedge/wsedge/codec"
)

func TestClientID(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 1})
	a, b := r.Open(&fakeConn{}), r.Open(&fakeConn{})
	if a.ClientID() == b.ClientID() || a.ClientID().Node != Incarnation() || a.ClientID().IsZero() {
		t.Fatalf("client ids %v %v", a.ClientID(), b.ClientID())
	}
	// Two routers in one process never hand out the same id.
	r2, _ := newTestRouter(t, Options{Workers: 1})
	if c := r2.Open(&fakeConn{}); c.ClientID() == a.ClientID() || c.ClientID() == b.ClientID() {
		t.Fatalf("second router reused %v", c.ClientID())
	}
	for _, id := range []ClientID{a.ClientID(), {Node: 1, Session: 1}, {Node: ^uint64(0), Session: ^uint64(0)}} {
		s := id.String()
		if got, ok := ParseClientID(s); !ok || got != id {
			t.Fatalf("ParseClientID(%q) = %v %v, want %v", s, got, ok, id)
		}
	}
	for _, bad := range []string{"", "x", "0000000000000001-", "0000000000000001-0", "000000000000001-1",
		"000000000000000g-1", "0000000000000001+1", "0000000000000001-10000000000000000", "0000000000000001-1x"} {
		if id, ok := ParseClientID(bad); ok {
			t.Errorf("ParseClientID(%q) = %v", bad, id)
		}
	}
}

func TestValidJSON(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{}`, true}, {` {"a":[1,2,{"b":null}]} `, true}, {`"s"`, true}, {`-1.5e3`, true}, {`true`, true},
		{``, false}, {` `, false}, {`{`, false}, {`{} {}`, false}, {`'a'`, false}, {`{"a":}`, false},
		{`[1,]`, false}, {`01`, false}, {"\"\x01\"", false},
	} {
		if got := ValidJSON([]byte(tc.in)); got != tc.ok {
			t.Errorf("ValidJSON(%q) = %v", tc.in, got)
		}
	}
}

func TestChannelMessage(t *testing.T) {
	for _, tc := range []struct {
		ch, data, want string
	}{
		{"a", `{"n":1}`, `{"type":"message","channel":"a","data":{"n":1}}`},
		{"room.1:x", "", `{"type":"message","channel":"room.1:x"}`},
	} {
		var data []byte
		if tc.data != "" {
			data = []byte(tc.data)
		}
		m := ChannelMessage(tc.ch, data)
		if string(m.Payload()) != tc.want || m.Op() != codec.OpText {
			t.Fatalf("payload %s, want %s", m.Payload(), tc.want)
		}
		if f := m.Frame(); string(framePayload(f)) != tc.want || f[0] != 0x81 {
			t.Fatalf("frame % x", f)
		}
	}
}

// A publish may exclude one connection (the publisher, say): it alone does not get it.
func TestPublishExclude(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 1})
	fs, ss := subscribeAll(t, r, "ex", 3)
	if err := r.Hub().Publish("ex", []byte("1"), PublishOptions{Exclude: ss[1].ClientID()}); err != nil {
		t.Fatal(err)
	}
	// Another process's connection with the same session number is not this one.
	other := ClientID{Node: Incarnation() + 1, Session: ss[2].ID()}
	if err := r.Hub().Publish("ex", []byte("2"), PublishOptions{Exclude: other}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{2, 1, 2} {
		if got := fs[i].frameCount(); got != want {
			t.Errorf("subscriber %d got %d messages, want %d", i, got, want)
		}
	}
	if err := r.Hub().Publish("bad channel", nil, PublishOptions{}); !errors.Is(err, errChanInvalid) {
		t.Fatalf("invalid channel: %v", err)
	}
}

// Sessions with an identity are found by user, and a user publication reaches all of them.
func TestUsers(t *testing.T) {
	hub := NewHub(0)
	var log interestLog
	hub.SetCluster(&log)
	r, _ := newTestRouter(t, Options{Workers: 1, Hub: hub})
	f1, f2, f3 := &fakeConn{}, &fakeConn{}, &fakeConn{}
	s1, s2, s3 := r.Open(f1), r.Open(f2), r.Open(f3)
	for _, tc := range []struct {
		s    *Session
		user string
		info string
		err  error
	}{
		{s1, "42", `{"name":"ada"}`, nil},
		{s2, "42", ``, nil},
		{s3, "7", ``, nil},
		{s1, "42", `{"name":"ada l."}`, nil}, // same user: new info
		{s1, "7", ``, errUserChange},
		{s3, "", ``, errUserEmpty},
	} {
		var info []byte
		if tc.info != "" {
			info = []byte(tc.info)
		}
		if err := hub.SetIdentity(tc.s, tc.user, info); err != tc.err {
			t.Fatalf("SetIdentity(%d, %q) = %v, want %v", tc.s.ID(), tc.user, err, tc.err)
		}
	}
	if s1.User() != "42" || string(s1.Info()) != `{"name":"ada l."}` || s2.Info() != nil || s3.User() != "7" {
		t.Fatalf("identities %q %q %q %q", s1.User(), s1.Info(), s2.User(), s3.User())
	}
	if n := hub.UserConnections("42"); n != 2 || hub.Receivers(KindUser, "7") != 1 {
		t.Fatalf("user 42 has %d connections", n)
	}
	msg := codec.NewPrepared(codec.OpText, []byte(`{"type":"notice"}`))
	if d, x := hub.Deliver(Publication{Kind: KindUser, Target: "42", Payload: msg}); d != 2 || x != 0 {
		t.Fatalf("user delivery: %d delivered, %d dropped", d, x)
	}
	if f1.frameCount() != 1 || f2.frameCount() != 1 || f3.frameCount() != 0 {
		t.Fatalf("frames %d %d %d", f1.frameCount(), f2.frameCount(), f3.frameCount())
	}
	r.Closed(s1)
	r.Closed(s2)
	if n := hub.UserConnections("42"); n != 0 {
		t.Fatalf("user 42 keeps %d connections after they closed", n)
	}
	if err := hub.SetIdentity(s1, "42", nil); err != errSessionClosed {
		t.Fatalf("SetIdentity on a closed session: %v", err)
	}
	want := []string{"+user:42", "+user:7", "-user:42"}
	if got := log.take(); !slices.Equal(got, want) {
		t.Fatalf("interest %v, want %v", got, want)
	}
}

// Presence and channel listings read the hub without locking out publishers.
func TestHubListings(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 1})
	_, ss := subscribeAll(t, r, "a", 3)
	subscribeAll(t, r, "b", 1)
	var ids []uint64
	r.Hub().SubscribedSessions("a", func(s *Session) bool { ids = append(ids, s.ID()); return true })
	slices.Sort(ids)
	if want := []uint64{ss[0].ID(), ss[1].ID(), ss[2].ID()}; !slices.Equal(ids, want) {
		t.Fatalf("subscribers of a: %v, want %v", ids, want)
	}
	got := map[string]int{}
	r.Hub().Channels(func(name string, n int) bool { got[name] = n; return true })
	if len(got) != 2 || got["a"] != 3 || got["b"] != 1 {
		t.Fatalf("channels %v", got)
	}
	n := 0
	r.Hub().Channels(func(string, int) bool { n++; return false })
	if n != 1 {
		t.Fatalf("Channels did not stop: %d calls", n)
	}
}
