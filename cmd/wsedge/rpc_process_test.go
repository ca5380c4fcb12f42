package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsedge/wsedge/bench"
)

// RPC through the built binary to a real HTTP backend and to a NATS responder.
func TestBinaryRPC(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Client, User, Method string
			Data                 json.RawMessage
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(400)
			return
		}
		switch req.Method {
		case "getProfile":
			fmt.Fprintf(w, `{"result":{"asked":%s,"by":%q}}`, req.Data, req.User)
		case "fail":
			io.WriteString(w, `{"error":{"code":"NOT_FOUND","message":"no such profile"}}`)
		case "slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		case "500":
			w.WriteHeader(500)
		case "garbage":
			io.WriteString(w, "garbage")
		case "huge":
			io.WriteString(w, `{"result":"`+strings.Repeat("x", 2<<20)+`"}`)
		}
	}))
	defer backend.Close()
	ns := embeddedNATS(t)
	n := startBinNode(t, "-proxy-rpc-url", backend.URL, "-proxy-timeout", "2s")
	c := dialWS(t, n.ws)
	c.exchange(`{"type":"rpc","id":"1","method":"getProfile","data":{"id":42}}`, `{"type":"rpc","id":"1","data":{"asked":{"id":42},"by":""}}`)
	c.exchange(`{"type":"rpc","id":"2","method":"fail"}`, `{"type":"error","id":"2","error":{"code":"NOT_FOUND","message":"no such profile"}}`)
	// a slow call and a ping after it: the replies keep the order the messages came in
	c.send(`{"type":"rpc","id":"3","method":"slow"}`)
	c.send(`{"type":"ping","id":"4"}`)
	if got := c.recv(); !strings.HasPrefix(got, `{"type":"error","id":"3","error":{"code":"UNAVAILABLE"`) {
		t.Fatalf("slow rpc: %s", got)
	}
	c.expect(`{"type":"pong","id":"4"}`)
	for _, m := range []string{"500", "garbage", "huge"} {
		c.send(`{"type":"rpc","id":"` + m + `","method":"` + m + `"}`)
		if got := c.recv(); !strings.HasPrefix(got, `{"type":"error","id":"`+m+`","error":{"code":"UNAVAILABLE"`) {
			t.Errorf("%s: %s", m, got)
		}
	}
	c.send(`{"type":"rpc","id":"5"}`)
	if got := c.recv(); !strings.HasPrefix(got, `{"type":"error","id":"5","error":{"code":"INVALID_MESSAGE"`) {
		t.Fatalf("rpc without method: %s", got)
	}

	// The same over NATS request-reply.
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Subscribe("app.rpc", func(m *nats.Msg) {
		var req struct{ Method string }
		_ = json.Unmarshal(m.Data, &req)
		if req.Method == "fail" {
			_ = m.Respond([]byte(`{"error":{"code":409,"message":"conflict"}}`))
			return
		}
		_ = m.Respond([]byte(`{"result":"via nats"}`))
	}); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	nn := startBinNode(t, "-broker", ns.ClientURL(), "-proxy-rpc-url", "nats:app.rpc")
	c = dialWS(t, nn.ws)
	c.exchange(`{"type":"rpc","id":"1","method":"any"}`, `{"type":"rpc","id":"1","data":"via nats"}`)
	c.exchange(`{"type":"rpc","id":"2","method":"fail"}`, `{"type":"error","id":"2","error":{"code":409,"message":"conflict"}}`)
}

// 10,000 subscribers on two built nodes get one API publish exactly once. The clients are
// the event-driven bench engine (two goroutines), the nodes child processes.
func TestBinaryAPI10k(t *testing.T) {
	const subs = 10000
	ns := embeddedNATS(t)
	na := startBinNode(t, "-broker", ns.ClientURL(), "-node-name", "a")
	nb := startBinNode(t, "-broker", ns.ClientURL(), "-node-name", "b")
	waitInfo(t, na.api, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var engines []*bench.Engine
	for _, n := range []*binNode{na, nb} {
		tg, err := bench.ParseTarget(ctx, "ws://"+n.ws+"/ws", false)
		if err != nil {
			t.Fatal(err)
		}
		e, err := bench.NewEngine(bench.EngineConfig{Target: tg, Open: func(int) [][]byte {
			return [][]byte{[]byte(`{"type":"subscribe","id":"s","channel":"big"}`)}
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		e.Dial(subs / 2)
		engines = append(engines, e)
	}
	total := func(f func(bench.Counters) int64) (n int64) {
		for _, e := range engines {
			n += f(e.Counters())
		}
		return n
	}
	for total(func(c bench.Counters) int64 { return c.Acked + c.Refused + c.Failed }) < subs {
		if ctx.Err() != nil {
			t.Fatalf("subscribed: %d of %d", total(func(c bench.Counters) int64 { return c.Acked }), subs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := total(func(c bench.Counters) int64 { return c.Acked }); got != subs {
		t.Fatalf("%d of %d subscribed", got, subs)
	}
	ok(t, na.api, "channels", `{"pattern":"big"}`, `{"result":{"channels":{"big":{"num_clients":10000}}}}`)
	// The data carries a bench timestamp ('@' and 16 hex digits): the engine counts it.
	ok(t, na.api, "publish", `{"channel":"big","data":"@0000000000000001"}`, `{"result":{}}`)
	timed := func() int64 { return total(func(c bench.Counters) int64 { return c.Timed }) }
	for timed() < subs && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive within this
	if got := timed(); got != subs {
		t.Fatalf("%d deliveries to %d subscribers", got, subs)
	}
	if d := total(func(c bench.Counters) int64 { return c.Dropped }); d != 0 {
		t.Fatalf("%d connections dropped", d)
	}
}
