package main

// The restart without reconnects of a node in a cluster (-broker): the NATS
// switch, seen from outside by clients on both nodes that count what they
// receive.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// natsPublisher publishes {"n":1}, {"n":2}, ... as plain JSON on a channel's
// subject, as a backend does (no wsedge origin, no sequence number).
type natsPublisher struct {
	nc   *nats.Conn
	mu   sync.Mutex
	sent int
	err  error
	stop chan struct{}
	done chan struct{}
}

func startNATSPublisher(t *testing.T, url, subject string) *natsPublisher {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	p := &natsPublisher{nc: nc, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for n := 1; ; n++ {
			select {
			case <-p.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			err := nc.Publish(subject, fmt.Appendf(nil, `{"n":%d}`, n))
			p.mu.Lock()
			if err != nil {
				p.err = err
				p.mu.Unlock()
				return
			}
			p.sent = n
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *natsPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

func (p *natsPublisher) finish(t *testing.T) int {
	t.Helper()
	close(p.stop)
	<-p.done
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if p.err != nil {
		t.Fatalf("nats publisher: %v", p.err)
	}
	return p.sent
}

// asker calls an API method in a loop and checks every answer.
type asker struct {
	mu   sync.Mutex
	n    int
	err  error
	stop chan struct{}
	done chan struct{}
}

func startAsker(api, body, want string) *asker {
	k := &asker{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(k.done)
		for {
			select {
			case <-k.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			req, _ := http.NewRequest("POST", "http://"+api+"/api/channels", strings.NewReader(body))
			req.Header.Set("Authorization", "apikey "+binAPIKey)
			res, err := client.Do(req)
			if err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || !equalJSON(string(b), want) {
					err = fmt.Errorf("HTTP %d %s, want %s", res.StatusCode, b, want)
				}
			}
			k.mu.Lock()
			if err != nil {
				k.err = fmt.Errorf("at %s: %w", time.Now().UTC().Format("15:04:05.000000"), err)
				k.mu.Unlock()
				return
			}
			k.n++
			k.mu.Unlock()
		}
	}()
	return k
}

func (k *asker) state() (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n, k.err
}

func (k *asker) finish() (int, error) {
	close(k.stop)
	<-k.done
	return k.state()
}

// waitUntil polls cond until it holds or within passes.
func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestBinaryRestartWithBroker: nodes a and b share a NATS server. Clients on
// a are subscribed to three streams that run while a gets SIGUSR2: one
// published through b's server API (a wsedge node: origin and numbers), one
// through a's own API (published by the old process, then by the new one),
// one published as plain JSON straight on NATS (a backend: no origin, no
// numbers). Clients on b are subscribed to a's stream. Every client receives
// every message of its stream exactly once and in order, on its connection,
// without a close; a's PID changes and the old process exits 0; and the relay
// and the switch both carried messages (so the test went through the window,
// not around it).
func TestBinaryRestartWithBroker(t *testing.T) {
	news, local, feed, onB := 200, 50, 50, 20
	if testing.Short() {
		news, local, feed, onB = 30, 10, 10, 5
	}
	ns := embeddedNATS(t)
	bin := binary(t)
	common := []string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-api-addr", "127.0.0.1:0", "-loops", "2", "-broker", ns.ClientURL()}
	a := startRestartNode(t, bin, restartEnv(), append(common, "-node-name", "a")...)
	b := startRestartNode(t, bin, restartEnv(), append(common, "-node-name", "b")...)
	startedA := a.log.waitFor(t, "a's startup", 15*time.Second, msgIs("wsedge started"))
	startedB := b.log.waitFor(t, "b's startup", 15*time.Second, msgIs("wsedge started"))
	wsA, apiA, adminA := startedA["listen"].(string), startedA["api_listen"].(string), startedA["admin_listen"].(string)
	wsB, apiB := startedB["listen"].(string), startedB["api_listen"].(string)
	oldPID := a.cmd.Process.Pid

	subscribe := func(addr, channel string, n int) []*counter {
		ks := make([]*counter, n)
		for i := range ks {
			w := dialWS(t, addr)
			w.subscribe(channel)
			w.c.SetReadDeadline(time.Time{})
			ks[i] = &counter{c: w.c, local: w.c.LocalAddr().String()}
			go ks[i].read(channel)
		}
		return ks
	}
	ksNews := subscribe(wsA, "news", news)
	ksLocal := subscribe(wsA, "local", local)
	ksFeed := subscribe(wsA, "feed", feed)
	ksLocalB := subscribe(wsB, "local", onB)

	pubNews := startPublisher(apiB, "news")   // through b, to a over NATS
	pubLocal := startPublisher(apiA, "local") // through a, to a's clients and over NATS to b's
	pubFeed := startNATSPublisher(t, ns.ClientURL(), "wsedge.ch.feed")
	pubNews.waitFor(t, 100)
	pubLocal.waitFor(t, 100)
	waitUntil(t, "the backend's first 100", 10*time.Second, func() bool { return pubFeed.count() >= 100 })
	// The first messages arrived everywhere: every subscription is up.
	waitUntil(t, "the streams to arrive", 10*time.Second, func() bool {
		n, _ := ksNews[0].state()
		f, _ := ksFeed[0].state()
		l, _ := ksLocalB[0].state()
		return n > 50 && f > 50 && l > 50
	})

	// Commands cross the switch too: b's API asks every node for its
	// channels all along; a's part must always be whole, answered once.
	ask := startAsker(apiB, `{}`, fmt.Sprintf(`{"result":{"channels":{"news":{"num_clients":%d},"local":{"num_clients":%d},"feed":{"num_clients":%d}}}}`, news, local+onB, feed))
	waitUntil(t, "the first answers", 10*time.Second, func() bool { n, _ := ask.state(); return n > 3 })

	if err := a.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	succ := a.log.waitFor(t, "the successor's startup", 30*time.Second, tookOverFrom(oldPID))
	newPID := int(succ["pid"].(float64))
	select {
	case err := <-a.exited:
		if err != nil {
			t.Fatalf("old process: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the old process did not exit")
	}
	if newPID == oldPID || syscall.Kill(newPID, 0) != nil {
		t.Fatalf("successor pid %d (old %d) not running", newPID, oldPID)
	}
	handed := a.log.waitFor(t, "hand-over line", time.Second, msgIs("handed over to the new process"))
	if handed["moved"] != float64(news+local+feed) || handed["kept"] != float64(0) {
		t.Fatalf("hand-over line %v", handed)
	}
	asked, askErr := ask.finish()
	if askErr != nil {
		t.Fatalf("b's channels call %d during the handover: %v", asked+1, askErr)
	}
	relay := a.log.waitFor(t, "relay line", time.Second, msgIs("handover: NATS relay ended"))
	if relay["subscribed"] != true || relay["relayed"].(float64) == 0 {
		t.Fatalf("relay line %v: the old process relayed nothing", relay)
	}

	// More of every stream after the switch, then the counts.
	from := pubNews.count()
	pubNews.waitFor(t, from+100)
	pubLocal.waitFor(t, pubLocal.count()+100)
	fromFeed := pubFeed.count()
	waitUntil(t, "the backend's next 100", 10*time.Second, func() bool { return pubFeed.count() >= fromFeed+100 })
	totalNews, totalLocal, totalFeed := pubNews.finish(t), pubLocal.finish(t), pubFeed.finish(t)
	checkStream(t, "news (from b)", ksNews, totalNews)
	checkStream(t, "local (a's own)", ksLocal, totalLocal)
	checkStream(t, "feed (backend)", ksFeed, totalFeed)
	checkStream(t, "local on b", ksLocalB, totalLocal)

	a.log.waitFor(t, "the switch's end", 10*time.Second, msgIs("handover: NATS switch ended"))
	_, metrics := httpGet(t, "http://"+adminA+"/metrics")
	m := metricsText(metrics)
	dup := m.value(`wsedge_handover_nats_messages_total{outcome="switch_duplicate"}`)
	relayed := m.value(`wsedge_handover_nats_messages_total{outcome="switch_relayed"}`)
	if dup == 0 || relayed == 0 {
		t.Fatalf("switch: %v relayed, %v duplicates: the two sources did not overlap", relayed, dup)
	}
	t.Logf("%d channels calls through b; news %d, local %d, feed %d messages; paused %v; old process relayed %v; switch relayed %v, duplicates %v, own %v, late %v",
		asked, totalNews, totalLocal, totalFeed, handed["paused"], relay["relayed"], relayed, dup,
		m.value(`wsedge_handover_nats_messages_total{outcome="switch_own"}`), m.value(`wsedge_handover_nats_messages_total{outcome="switch_late"}`))
}

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
	pid1 := a.cmd.Process.Pid
	a.cmd.Process.Signal(syscall.SIGUSR2)
	succ := a.log.waitFor(t, "the first successor", 30*time.Second, tookOverFrom(pid1))
	pid2 := int(succ["pid"].(float64))
	select {
	case err := <-a.exited:
		if err != nil {
			t.Fatalf("first process: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the first process did not exit")
	}
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
