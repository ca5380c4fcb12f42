package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wsedge/wsedge/api"
)

// startPair runs two nodes sharing a real embedded NATS server, each with its API listener,
// and waits until each knows the other.
func startPair(t *testing.T, o Options) (a, b *Server, apiA, apiB string, stopNATS func()) {
	t.Helper()
	ns := startNATS(t)
	o.Broker = ns.ClientURL()
	oa, ob := o, o
	oa.NodeName, ob.NodeName = "node-a", "node-b"
	a, b = startServer(t, oa), startServer(t, ob)
	apiA, apiB = apiURL(t, a), apiURL(t, b)
	waitNodes(t, apiA, 2)
	waitNodes(t, apiB, 2)
	return a, b, apiA, apiB, func() {
		ns.Shutdown()
		ns.WaitForShutdown()
		waitFor(t, 10*time.Second, "the brokers disconnected", func() bool {
			return !a.nats.Connected() && !b.nats.Connected()
		})
	}
}

// Two nodes over NATS: every API method called on one node covers both.
func TestAPICluster(t *testing.T) {
	a, b, apiA, apiB, stopNATS := startPair(t, backendOptions())

	annA := dialUser(t, a, "42", `{"name":"Ann"}`)
	annB := dialUser(t, b, "42", `{"name":"Ann"}`)
	bobB := dialUser(t, b, "77", "")
	anonA := dialUser(t, a, "", "")
	for _, c := range []*gorillaClient{annA, annB, bobB, anonA} {
		subscribe(t, c, "pres:lobby")
	}

	// publish from the API reaches subscribers on both nodes exactly once
	for _, base := range []string{apiA, apiB} {
		mustCall(t, base, "publish", `{"channel":"pres:lobby","data":{"from":"`+base[len(base)-5:]+`"}}`, `{"result":{}}`)
		for _, c := range []*gorillaClient{annA, annB, bobB, anonA} {
			expectMsg(t, c, `{"type":"message","channel":"pres:lobby","data":{"from":"`+base[len(base)-5:]+`"}}`)
		}
	}
	for i, c := range []*gorillaClient{annA, annB, bobB, anonA} {
		expectIdle(t, c, "once"+string(rune('0'+i)))
	}

	// a user-limited channel and a server-side subscription across nodes
	mustCall(t, apiB, "subscribe", `{"user":"42","channel":"notifications#42"}`, `{"result":{"connections":2}}`)
	for _, c := range []*gorillaClient{annA, annB} {
		expectMsg(t, c, `{"type":"subscribed","channel":"notifications#42"}`)
	}
	mustCall(t, apiA, "publish", `{"channel":"notifications#42","data":"only 42"}`, `{"result":{}}`)
	for _, c := range []*gorillaClient{annA, annB} {
		expectMsg(t, c, `{"type":"message","channel":"notifications#42","data":"only 42"}`)
	}
	expectIdle(t, bobB, "u1")
	expectIdle(t, anonA, "u2")
	mustCall(t, apiA, "unsubscribe", `{"user":"42","channel":"notifications#42"}`, `{"result":{"connections":2}}`)
	for _, c := range []*gorillaClient{annA, annB} {
		expectMsg(t, c, `{"type":"unsubscribed","channel":"notifications#42"}`)
	}

	// presence shows the clients of both nodes; stats count user 42 once
	for _, base := range []string{apiA, apiB} {
		var r struct {
			Result struct{ Clients []api.Client } `json:"result"`
		}
		if err := json.Unmarshal([]byte(mustCall(t, base, "presence", `{"channel":"pres:lobby"}`, "")), &r); err != nil {
			t.Fatal(err)
		}
		// (Both nodes run in this process: their client ids share the incarnation.)
		users := map[string]int{}
		ids := map[string]bool{}
		for _, c := range r.Result.Clients {
			users[c.User]++
			ids[c.Client] = true
		}
		if len(r.Result.Clients) != 4 || users["42"] != 2 || users["77"] != 1 || users[""] != 1 || len(ids) != 4 {
			t.Fatalf("presence on %s: %+v", base, r.Result.Clients)
		}
		mustCall(t, base, "presence_stats", `{"channel":"pres:lobby"}`, `{"result":{"num_clients":4,"num_users":2}}`)
		mustCall(t, base, "channels", `{"pattern":"pres:*"}`, `{"result":{"channels":{"pres:lobby":{"num_clients":4}}}}`)
		info := mustCall(t, base, "info", ``, "")
		if !strings.Contains(info, `"name":"node-a","num_clients":2,"num_subscriptions":2`) ||
			!strings.Contains(info, `"name":"node-b","num_clients":2,"num_subscriptions":2`) {
			t.Fatalf("info on %s: %s", base, info)
		}
	}

	// disconnect closes the user's connections on both nodes with 4003
	mustCall(t, apiA, "disconnect", `{"user":"42","reason":"bye"}`, `{"result":{"connections":2}}`)
	expectClose(t, annA, 4003, "bye")
	expectClose(t, annB, 4003, "bye")
	mustCall(t, apiB, "disconnect", `{"user":"42"}`, `{"result":{"connections":0}}`)

	// a backend publishes plain JSON on the channel's subject
	backend, err := nats.Connect(a.opts.Broker)
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	if err := backend.Publish("wsedge.ch.pres:lobby", []byte(`{"from":"nats"}`)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*gorillaClient{bobB, anonA} {
		expectMsg(t, c, `{"type":"message","channel":"pres:lobby","data":{"from":"nats"}}`)
	}

	// NATS down: every method answers 503 UNAVAILABLE and does nothing
	stopNATS()
	for _, m := range []struct{ method, body string }{
		{"publish", `{"channel":"pres:lobby","data":"lost"}`},
		{"broadcast", `{"channels":["pres:lobby"],"data":"lost"}`},
		{"subscribe", `{"user":"77","channel":"news"}`},
		{"unsubscribe", `{"user":"77","channel":"pres:lobby"}`},
		{"disconnect", `{"user":"77"}`},
		{"presence", `{"channel":"pres:lobby"}`},
		{"presence_stats", `{"channel":"pres:lobby"}`},
		{"channels", `{}`},
		{"info", `{}`},
	} {
		st, body := call(t, apiB, m.method, m.body)
		if st != 503 || !strings.Contains(body, `"UNAVAILABLE"`) {
			t.Errorf("%s with NATS down: %d %s", m.method, st, body)
		}
	}
	// Nothing was half-done: bob is still connected, still subscribed to pres:lobby, not to
	// news, and received nothing.
	if b.Router().Hub().UserConnections("77") != 1 {
		t.Fatal("bob's connection is gone")
	}
	exchange(t, bobB, `{"type":"subscribe","id":"n","channel":"news"}`, `{"type":"ack","id":"n"}`)
	exchange(t, bobB, `{"type":"unsubscribe","id":"n2","channel":"news"}`, `{"type":"ack","id":"n2"}`)
	if got := b.Router().Hub().Subscribers("pres:lobby"); got != 1 {
		t.Fatalf("pres:lobby has %d subscribers on node b", got)
	}
	expectIdle(t, bobB, "after")
	expectIdle(t, anonA, "after")
}

// Messages and answers over NATS's max_payload: a publish is 413 and reaches nobody (not even
// the local subscriber); a node's presence answer over it is 413, not a timeout.
func TestAPIMaxPayload(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, MaxPayload: 2048})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	o := backendOptions()
	o.Broker = ns.ClientURL()
	oa, ob := o, o
	oa.NodeName, ob.NodeName = "a", "b"
	a, b := startServer(t, oa), startServer(t, ob)
	apiA := apiURL(t, a)
	waitNodes(t, apiA, 2)
	sub := dialUser(t, a, "", "")
	subscribe(t, sub, "pres:x")
	big := strings.Repeat("x", 4096)
	if st, body := call(t, apiA, "publish", `{"channel":"pres:x","data":"`+big+`"}`); st != 413 || !strings.Contains(body, "TOO_LARGE") {
		t.Fatalf("publish over max_payload: %d %s", st, body)
	}
	expectIdle(t, sub, "nothing")
	for i := range 40 {
		c := dialUser(t, b, strings.Repeat("u", 60)+fmt.Sprint(i), "")
		subscribe(t, c, "pres:x")
	}
	// 413 from node b's answer, not 503 at the call's deadline: b told a its answer did not fit.
	if st, body := call(t, apiA, "presence", `{"channel":"pres:x"}`); st != 413 || !strings.Contains(body, "max_payload") {
		t.Fatalf("presence over max_payload: %d %s", st, body)
	}
	mustCall(t, apiA, "presence_stats", `{"channel":"pres:x"}`, `{"result":{"num_clients":41,"num_users":40}}`)
}
