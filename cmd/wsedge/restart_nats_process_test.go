package main

// The restart without reconnects of a node in a cluster (-broker): the NATS
// switch, seen from outside by clients on both nodes that count what they
// receive.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
	waitUntil(t, "the first answers", 10*time.Second, func() bool {
		n, err := ask.state()
		if err != nil {
			t.Fatalf("b's API before the handover: %v", err)
		}
		return n > 3
	})

	succ := a.restart(t, 30*time.Second)
	newPID := int(succ["pid"].(float64))
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
