package server

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/api"
	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/perm"
	"github.com/wsedge/wsedge/routing"
)

// presenceOf sends a presence request and returns the users it lists, sorted by client id.
func presenceOf(t *testing.T, c wsClient, channel, id string) []api.Client {
	t.Helper()
	c.send(t, `{"type":"presence","id":"`+id+`","channel":"`+channel+`"}`)
	raw := c.recv(t)
	var r struct {
		Type    string
		ID      string
		Clients []api.Client
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil || r.Type != "presence" || r.ID != id || r.Clients == nil {
		t.Fatalf("presence reply %s (%v)", raw, err)
	}
	return r.Clients
}

// The presence message: allowed in a namespace with presence to a connection that is (or
// may be) subscribed; PERMISSION_DENIED otherwise, with the id, the connection staying open.
func TestPresenceMessage(t *testing.T) {
	s := startServer(t, backendOptions())
	ann := dialUser(t, s, "42", `{"name":"Ann"}`)
	bob := dialUser(t, s, "77", "")
	subscribe(t, ann, "pres:lobby")
	subscribe(t, bob, "news")
	cl := presenceOf(t, bob, "pres:lobby", "p1") // bob may subscribe there: allowed
	if len(cl) != 1 || cl[0].User != "42" || string(cl[0].Info) != `{"name":"Ann"}` || cl[0].Client == "" {
		t.Fatalf("presence: %+v", cl)
	}
	if cl := presenceOf(t, ann, "pres:empty", "p2"); len(cl) != 0 {
		t.Fatalf("empty channel: %+v", cl)
	}
	for _, ch := range []string{"news", "dm#42"} {
		bob.send(t, `{"type":"presence","id":"d","channel":"`+ch+`"}`)
		if err := checkError(bob.recv(t), "PERMISSION_DENIED", `"d"`); err != nil {
			t.Fatalf("%s: %v", ch, err)
		}
	}
	bob.send(t, `{"type":"presence","id":"n"}`)
	if err := checkError(bob.recv(t), "INVALID_MESSAGE", `"n"`); err != nil {
		t.Fatal(err)
	}
	expectIdle(t, bob, "open")
}

// Presence over a bound: OVERLOADED for a client, 413 for the API (presence_stats counts on).
func TestPresenceMax(t *testing.T) {
	o := backendOptions()
	o.PresenceMax = 2
	s := startServer(t, o)
	base := apiURL(t, s)
	var cs []*gorillaClient
	for i := range 3 {
		c := dialUser(t, s, fmt.Sprint(i), "")
		subscribe(t, c, "pres:big")
		cs = append(cs, c)
	}
	cs[0].send(t, `{"type":"presence","id":"p","channel":"pres:big"}`)
	if err := checkError(cs[0].recv(t), "OVERLOADED", `"p"`); err != nil {
		t.Fatal(err)
	}
	if st, body := call(t, base, "presence", `{"channel":"pres:big"}`); st != 413 || !strings.Contains(body, "presence_stats") {
		t.Fatalf("API presence over the bound: %d %s", st, body)
	}
	mustCall(t, base, "presence_stats", `{"channel":"pres:big"}`, `{"result":{"num_clients":3,"num_users":3}}`)
}

// Presence and join/leave across two nodes: a client on one node sees the clients of both,
// and subscribers of a join_leave channel on both nodes see joins and leaves (not their own).
func TestPresenceAndJoinLeaveCluster(t *testing.T) {
	a, b, _, _, _ := startPair(t, backendOptions())
	ann := dialUser(t, a, "42", `{"name":"Ann"}`)
	bob := dialUser(t, b, "77", "")
	subscribe(t, ann, "room:1")
	// Ann's own join leaves node a after her ack (events are sent in the background): wait for
	// it, and for the NATS server to have it (nats.go buffers publishes), or it could reach bob
	// once bob has subscribed.
	waitFor(t, wsTimeout, "ann's join sent", func() bool { return counterValue(t, a.be.m.events) >= 1 })
	if err := a.nats.Flush(wsTimeout); err != nil {
		t.Fatal(err)
	}
	subscribe(t, bob, "room:1") // ann, on the other node, is told
	expectMsg(t, ann, `{"type":"join","channel":"room:1","user":"77","client":"`+clientOf(t, b, "77")+`"}`)
	cl := presenceOf(t, bob, "room:1", "p")
	if len(cl) != 2 || cl[0].User == cl[1].User {
		t.Fatalf("presence across nodes: %+v", cl)
	}
	// no join/leave in namespaces without it
	subscribe(t, ann, "pres:x")
	subscribe(t, bob, "pres:x")
	expectIdle(t, ann, "quiet")

	annID := clientOf(t, a, "42")
	exchange(t, ann, `{"type":"unsubscribe","id":"u","channel":"room:1"}`, `{"type":"ack","id":"u"}`)
	expectMsg(t, bob, `{"type":"leave","channel":"room:1","user":"42","client":"`+annID+`","info":{"name":"Ann"}}`)
	subscribe(t, ann, "room:1")
	expectMsg(t, bob, `{"type":"join","channel":"room:1","user":"42","client":"`+annID+`","info":{"name":"Ann"}}`)
	ann.c.Close() // a connection that closes leaves its channels
	expectMsg(t, bob, `{"type":"leave","channel":"room:1","user":"42","client":"`+annID+`","info":{"name":"Ann"}}`)
	expectIdle(t, bob, "end")
}

// clientOf is the client id of user's (only) connection on s.
func clientOf(t *testing.T, s *Server, user string) string {
	t.Helper()
	var id string
	waitFor(t, wsTimeout, "the user's connection", func() bool {
		s.Router().Hub().UserSessions(user, func(sess *routing.Session) bool {
			id = sess.ClientID().String()
			return false
		})
		return id != ""
	})
	return id
}

// BenchmarkSubscribedSessionMemory: what a subscribed connection's session costs in a
// namespace with presence and join/leave and in one without: the same, since presence reads
// the subscription index and keeps nothing per connection (B/session, compare the two).
func BenchmarkSubscribedSessionMemory(b *testing.B) {
	pol, err := perm.New(false, []perm.Namespace{{Name: "pres", Subscribe: perm.SubscribeAnyone, Presence: true, JoinLeave: true}})
	if err != nil {
		b.Fatal(err)
	}
	for _, ns := range []string{"plain", "pres"} {
		b.Run(ns, func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = subscribedSessionBytes(b, pol, ns+":c")
			}
			b.ReportMetric(per, "B/session")
		})
	}
}

// TestPresenceCostsNoMemory holds the benchmark's claim within noise: the heap per
// subscribed session differs by less than 8 bytes between the two namespaces.
func TestPresenceCostsNoMemory(t *testing.T) {
	pol, err := perm.New(false, []perm.Namespace{{Name: "pres", Subscribe: perm.SubscribeAnyone, Presence: true, JoinLeave: true}})
	if err != nil {
		t.Fatal(err)
	}
	subscribedSessionBytes(t, pol, "warm:c") // the first measurement pays for growing pools and runtime tables
	plain := subscribedSessionBytes(t, pol, "plain:c")
	pres := subscribedSessionBytes(t, pol, "pres:c")
	if d := pres - plain; d > 8 || d < -8 {
		t.Fatalf("a subscribed session costs %.1f B with presence, %.1f B without", pres, plain)
	}
}

// subscribedSessionBytes opens sessions subscribed to channel on a hub with the server's
// membership hook (join/leave events are dropped here) and returns the heap per session.
func subscribedSessionBytes(tb testing.TB, pol *perm.Policy, channel string) float64 {
	const n = 20000
	s := &Server{log: zap.NewNop(), id: &idState{}}
	s.id.policy.Store(pol)
	be := &backend{s: s, events: make(chan memberEvent)} // events dropped: nobody sends them here
	hub := routing.NewHub(0)
	hub.OnMembership(be.membership)
	r := routing.New(routing.Options{Workers: 1, Hub: hub})
	defer r.Close()
	conn := discardConn{}
	ss := make([]*routing.Session, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range ss {
		ss[i] = r.Open(conn)
		if err := hub.SetIdentity(ss[i], fmt.Sprint("u", i), nil); err != nil {
			tb.Fatal(err)
		}
		if err := hub.Subscribe(ss[i], []byte(channel)); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(ss)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
}

// discardConn is a routing.Conn that drops everything.
type discardConn struct{}

func (discardConn) Send([]byte) error                  { return nil }
func (discardConn) SendPrepared(*codec.Prepared) error { return nil }
func (discardConn) Flush() error                       { return nil }
func (discardConn) FlushSoon()                         {}
func (discardConn) Close(codec.CloseCode, string)      {}
func (discardConn) RemoteIP() netip.Addr               { return netip.MustParseAddr("127.0.0.1") }
