package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
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
