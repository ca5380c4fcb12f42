//go:build linux

package main

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/wsfleet"
)

// TestBinaryRestart5000: the test at its size: 5,000 connections
// (one epoll loop in this process, no goroutine each) subscribed while a
// numbered stream is published through the server API; SIGUSR2; every
// connection receives every message exactly once and in order, none is
// closed, each keeps its local port, and the new process counts them all.
func TestBinaryRestart5000(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 connections: not in -short")
	}
	const conns = 5000
	n := startRestartNode(t, binary(t), restartEnv(),
		"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-api-addr", "127.0.0.1:0")
	started := n.log.waitFor(t, "startup", 15*time.Second, msgIs("wsedge started"))
	ws, api, adminAddr := started["listen"].(string), started["api_listen"].(string), started["admin_listen"].(string)
	f, err := wsfleet.Dial(wsfleet.Config{Addr: ws, Path: "/ws", Conns: conns, Subscribe: "news", Timeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := f.Snapshot()

	pub := startPublisherWith(api, "news", 0, strconv.Itoa)
	pub.waitFor(t, 50)
	succ := n.restart(t, 60*time.Second)
	handed := n.log.waitFor(t, "hand-over line", time.Second, msgIs("handed over to the new process"))
	if handed["moved"] != float64(conns) || succ["adopted"] != float64(conns) {
		t.Fatalf("moved %v, adopted %v, want %d", handed["moved"], succ["adopted"], conns)
	}
	pub.waitFor(t, pub.count()+50)
	last := pub.finish(t) // the numbers are 0..last

	deadline := time.Now().Add(60 * time.Second)
	var s []wsfleet.Conn
	for {
		s = f.Snapshot()
		done := 0
		for _, c := range s {
			if c.Last == last || c.CloseCode != 0 {
				done++
			}
		}
		if done == conns || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, c := range s {
		if c.CloseCode != 0 || c.Errors != 0 || c.Received != last+1 || c.Last != last || c.LocalPort != before[i].LocalPort {
			t.Fatalf("connection %d: %+v (want %d messages 0..%d, open, port %d)", i, c, last+1, last, before[i].LocalPort)
		}
	}
	if code, body := httpGet(t, "http://"+adminAddr+"/health"); code != 200 || !regexpConns(conns).MatchString(body) {
		t.Fatalf("/health of the new process: %d %s", code, body)
	}
	t.Logf("%d connections, %d messages; paused %v (exported after %v), handover %v", conns, last+1, handed["paused"], handed["exported"], handed["duration"])
}

func regexpConns(n int) *regexp.Regexp {
	return regexp.MustCompile(`"connections":` + strconv.Itoa(n) + `\b`)
}
