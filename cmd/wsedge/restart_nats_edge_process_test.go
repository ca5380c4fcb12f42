package main

// The NATS switch of a restart without reconnects at its edges: NATS down
// at the signal, and -broker added or removed between two restarts.

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// natsOn runs a NATS server in the test process on port (-1: any free one).
func natsOn(t *testing.T, port int) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// TestBinaryRestartWithBrokerDown: NATS is down when the node gets SIGUSR2.
// With -broker-retry the new process starts anyway; the old one waits at
// most -handover-timeout for the new subscriptions, ends the relay and
// exits 0; the clients stay, on their connections, with the new process,
// whose subscriptions are made once NATS is back: a backend's messages
// reach every client again, once each and in order.
func TestBinaryRestartWithBrokerDown(t *testing.T) {
	const clients = 20
	ns := natsOn(t, -1)
	port := ns.Addr().(*net.TCPAddr).Port
	a := startRestartNode(t, binary(t), restartEnv(), "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0",
		"-broker", ns.ClientURL(), "-broker-retry", "-handover-timeout", "3s")
	started := a.log.waitFor(t, "startup", 15*time.Second, msgIs("wsedge started"))
	oldPID := a.cmd.Process.Pid
	ks := make([]*counter, clients)
	ws := make([]*wsc, clients)
	for i := range ks {
		ws[i] = dialWS(t, started["listen"].(string))
		ws[i].subscribe("news")
		ws[i].c.SetReadDeadline(time.Time{})
		ks[i] = &counter{c: ws[i].c, local: ws[i].c.LocalAddr().String()}
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	a.log.waitFor(t, "the disconnection", 10*time.Second, msgIs("nats disconnected; publishes answer UNAVAILABLE until reconnected"))

	sent := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	a.log.waitFor(t, "the successor's startup", 30*time.Second, tookOverFrom(oldPID))
	select {
	case err := <-a.exited:
		if err != nil {
			t.Fatalf("old process: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the old process did not exit")
	}
	relay := a.log.waitFor(t, "relay line", time.Second, msgIs("handover: NATS relay ended"))
	if relay["subscribed"] != false {
		t.Fatalf("relay line %v: subscribed with NATS down", relay)
	}
	if took := time.Since(sent); took < 3*time.Second {
		t.Fatalf("the old process exited %v after SIGUSR2, before -handover-timeout", took)
	}
	for i, w := range ws {
		w.idle(fmt.Sprint("after-", i)) // served by the new process, same connection
		w.c.SetReadDeadline(time.Time{})
		if w.c.LocalAddr().String() != ks[i].local {
			t.Fatalf("client %d changed connection", i)
		}
		go ks[i].read("news")
	}

	// NATS back on the same port: the new process connects and subscribes.
	ns = natsOn(t, port)
	waitUntil(t, "the new process's connection", 15*time.Second, func() bool {
		return len(a.log.all(msgIs("nats connected"))) >= 2 // the old process's at its start, then the new one's
	})
	backend, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	// Probes (n=0) until every client gets one: the subscription is up.
	waitUntil(t, "the subscriptions", 15*time.Second, func() bool {
		backend.Publish("wsedge.ch.news", []byte(`{"n":0}`))
		backend.Flush()
		for _, k := range ks {
			if n, _ := k.state(); n == 0 {
				time.Sleep(20 * time.Millisecond)
				return false
			}
		}
		return true
	})
	for n := 1; n <= 50; n++ {
		backend.Publish("wsedge.ch.news", fmt.Appendf(nil, `{"n":%d}`, n))
	}
	backend.Flush()
	for i, k := range ks {
		waitUntil(t, "the stream", 10*time.Second, func() bool {
			k.mu.Lock()
			defer k.mu.Unlock()
			return len(k.got) > 0 && k.got[len(k.got)-1] == 50 || k.err != nil
		})
		k.mu.Lock()
		got := k.got
		for len(got) > 0 && got[0] == 0 {
			got = got[1:]
		}
		err := k.err
		k.mu.Unlock()
		if err != nil || len(got) != 50 || got[0] != 1 || got[49] != 50 {
			t.Fatalf("client %d after NATS came back: %v %v", i, got, err)
		}
		for j, v := range got {
			if v != j+1 {
				t.Fatalf("client %d: message %d is n=%d", i, j, v)
			}
		}
	}
}

// TestBinaryRestartBrokerAddedAndRemoved: the configuration file gains
// -broker between two restarts, then loses it. The new process with a
// broker and an old one without starts its subscriptions at once (no
// switch: a backend's messages reach the clients it adopted); an old
// process with a broker and a new one without is told at once that there is
// nothing to wait for (it does not wait -handover-timeout).
func TestBinaryRestartBrokerAddedAndRemoved(t *testing.T) {
	const clients = 10
	ns := embeddedNATS(t)
	dir := t.TempDir()
	cfg := writeFileIn(t, dir, "wsedge.yaml", "handover-timeout: 20s\n")
	a := startRestartNode(t, binary(t), restartEnv(), "-config", cfg, "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0")
	started := a.log.waitFor(t, "startup", 15*time.Second, msgIs("wsedge started"))
	ks := make([]*counter, clients)
	for i := range ks {
		w := dialWS(t, started["listen"].(string))
		w.subscribe("news")
		w.c.SetReadDeadline(time.Time{})
		ks[i] = &counter{c: w.c, local: w.c.LocalAddr().String()}
		go ks[i].read("news")
	}

	// 1. -broker added.
	writeFileIn(t, dir, "wsedge.yaml", "handover-timeout: 20s\nbroker: "+ns.ClientURL()+"\n")
	pid2 := int(a.restart(t, 30*time.Second)["pid"].(float64))
	backend, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	for n := 1; n <= 20; n++ {
		backend.Publish("wsedge.ch.news", fmt.Appendf(nil, `{"n":%d}`, n))
	}
	backend.Flush()
	checkStream(t, "news after -broker was added", ks, 20)

	// 2. -broker removed again.
	writeFileIn(t, dir, "wsedge.yaml", "handover-timeout: 20s\n")
	sent := time.Now()
	syscall.Kill(pid2, syscall.SIGUSR2)
	a.log.waitFor(t, "the second successor", 30*time.Second, tookOverFrom(pid2))
	relay := a.log.waitFor(t, "the relay's end", 30*time.Second, msgIs("handover: NATS relay ended"))
	if relay["subscribed"] != true {
		t.Fatalf("relay line %v: the old process waited for a broker the new one does not have", relay)
	}
	waitUntil(t, "the second process's exit", 30*time.Second, func() bool { return syscall.Kill(pid2, 0) != nil })
	if took := time.Since(sent); took > 15*time.Second {
		t.Fatalf("the second process took %v to exit", took)
	}
	for i, k := range ks {
		if _, err := k.state(); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
}
