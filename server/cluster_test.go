package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestClusterChannelsOverNATS: two wsedge nodes sharing channels through a
// real (embedded) NATS server; a publish on one node reaches subscribers on
// both exactly once, and a broker outage answers UNAVAILABLE.
func TestClusterChannelsOverNATS(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()

	o := testOptions()
	o.Broker = ns.ClientURL()
	a, b := startServer(t, o), startServer(t, o)
	if st, body := a.Health(); st != 200 || !strings.Contains(string(body), `"broker":"connected"`) {
		t.Fatalf("health with a broker: %d %s", st, body)
	}

	subA := dialGorilla(t, wsURL(a, "/ws"))
	subB := dialGorilla(t, wsURL(b, "/ws"))
	for _, c := range []*gorillaClient{subA, subB} {
		exchange(t, c, `{"type":"subscribe","channel":"room.1","id":"s"}`, `{"type":"ack","id":"s"}`)
	}
	pub := dialGorilla(t, wsURL(a, "/ws"))
	for i := 0; i < 3; i++ {
		exchange(t, pub, fmt.Sprintf(`{"type":"publish","channel":"room.1","id":"p%d","data":{"n":%d}}`, i, i),
			fmt.Sprintf(`{"type":"ack","id":"p%d"}`, i))
	}
	for _, c := range []*gorillaClient{subA, subB} {
		for i := 0; i < 3; i++ {
			expectMsg(t, c, fmt.Sprintf(`{"type":"message","channel":"room.1","data":{"n":%d}}`, i))
		}
	}
	// Exactly once: after the last message, each subscriber is idle.
	expectIdle(t, subA, "i1")
	expectIdle(t, subB, "i2")

	// A backend publishes plain JSON data with the plain nats.go client: subscribers on both
	// nodes get it as a channel message.
	backend, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	if err := backend.Publish("wsedge.ch.room%2E1", []byte(`{"from":"backend"}`)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*gorillaClient{subA, subB} {
		expectMsg(t, c, `{"type":"message","channel":"room.1","data":{"from":"backend"}}`)
	}
	// The broker's counters are exported: node A sent three publishes and received one message.
	if got := gatherValue(t, a, "wsedge_broker_received_total"); got != 1 {
		t.Fatalf("wsedge_broker_received_total = %v, want 1", got)
	}
	if got := gatherValue(t, a, "wsedge_broker_published_total"); got != 3 {
		t.Fatalf("wsedge_broker_published_total = %v, want 3", got)
	}

	// A channel nobody subscribed to on B stays silent there.
	exchange(t, pub, `{"type":"publish","channel":"other","id":"o","data":1}`, `{"type":"ack","id":"o"}`)
	expectIdle(t, subB, "i3")

	ns.Shutdown()
	ns.WaitForShutdown()
	waitFor(t, 10*time.Second, "broker disconnected", func() bool {
		_, body := a.Health()
		return strings.Contains(string(body), `"broker":"disconnected"`)
	})
	pub.send(t, `{"type":"publish","channel":"room.1","id":"down","data":1}`)
	if err := checkError(pub.recv(t), "UNAVAILABLE", `"down"`); err != nil {
		t.Fatal(err)
	}
	expectIdle(t, pub, "still-open")
}

// gatherValue reads one unlabelled metric of s from its registry, as /metrics would.
func gatherValue(t *testing.T, s *Server, name string) float64 {
	t.Helper()
	mfs, err := s.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	t.Fatalf("metric %s not exported", name)
	return 0
}

// TestBrokerFlags: -broker-retry starts a node while NATS is down (publishes answer
// UNAVAILABLE); without it the node refuses to start; bad -broker-* values are refused.
func TestBrokerFlags(t *testing.T) {
	o := testOptions()
	o.Broker = "nats://127.0.0.1:1" // nothing listens there
	if _, err := New(o, nil, nil); err == nil {
		t.Fatal("a node started without NATS and without -broker-retry")
	}
	o.BrokerRetry = true
	o.NodeName = "edge-test"
	s := startServer(t, o)
	if got := gatherValue(t, s, "wsedge_broker_connected"); got != 0 {
		t.Fatalf("wsedge_broker_connected = %v while NATS is down", got)
	}
	c := dialGorilla(t, wsURL(s, "/ws"))
	c.send(t, `{"type":"publish","channel":"x","id":"p","data":1}`)
	if err := checkError(c.recv(t), "UNAVAILABLE", `"p"`); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*Options){
		func(o *Options) { o.BrokerTLSCert = "cert.pem" },
		func(o *Options) { o.BrokerCreds = "/nonexistent/wsedge.creds" },
		func(o *Options) { o.NodeName = strings.Repeat("n", 129) },
	} {
		o := testOptions()
		o.Broker, o.BrokerRetry = "nats://127.0.0.1:1", true
		bad(&o)
		if _, err := New(o, nil, nil); err == nil {
			t.Errorf("bad broker options accepted: %+v", o)
		}
	}
}
