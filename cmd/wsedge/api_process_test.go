package main

// The server API, RPC and presence against the built binary: one node, and two nodes over an
// embedded NATS server. Users need identity (tokens, the connect proxy), which the binary
// does not wire yet: here every client is anonymous, so the user-targeted methods are run
// against users without connections (connections: 0); what they do to a user's connections
// on both nodes is tested in package server (TestAPICluster), in process, with users from
// the Identify hook.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

const binAPIKey = "binary-api-key-0123456789abcdef"

// testNamespaces: "pres" with presence, "room" with presence and join/leave.
const testNamespaces = `namespaces:
  - name: pres
    subscribe: anyone
    publish: anyone
    presence: true
  - name: room
    subscribe: anyone
    publish: anyone
    presence: true
    join_leave: true
`

// binNode is a running binary with its listeners.
type binNode struct {
	*process
	ws, api, admin string // host:port
}

// startBinNode runs the binary with the server API and the test namespaces; extra are more
// flags.
func startBinNode(t *testing.T, extra ...string) *binNode {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "wsedge.yaml")
	if err := os.WriteFile(cfg, []byte(testNamespaces), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-api-addr", "127.0.0.1:0",
		"-config", cfg, "-api-timeout", "20s"}, extra...)
	p := startNode(t, []string{"WSEDGE_API_KEY=" + binAPIKey, "WSEDGE_LOG_LEVEL=info"}, args...)
	started := p.log.wait(t, "wsedge started")
	n := &binNode{process: p}
	n.ws, _ = started["listen"].(string)
	n.api, _ = started["api_listen"].(string)
	n.admin, _ = started["admin_listen"].(string)
	if n.ws == "" || n.api == "" || n.admin == "" {
		t.Fatalf("startup line %v", started)
	}
	t.Cleanup(func() {
		if !p.done {
			p.cmd.Process.Signal(syscall.SIGTERM)
			p.waitExit(t, 20*time.Second)
		}
	})
	return n
}

var binClient = &http.Client{Timeout: 10 * time.Second}

// post calls /api/method on addr with the key.
func post(t *testing.T, addr, method, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/"+method, strings.NewReader(body))
	req.Header.Set("Authorization", "apikey "+binAPIKey)
	res, err := binClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b))
}

// ok requires a 200 answer, equal to want (as JSON) unless want is "".
func ok(t *testing.T, addr, method, body, want string) string {
	t.Helper()
	st, got := post(t, addr, method, body)
	if st != 200 {
		t.Fatalf("%s %s: %d %s", method, body, st, got)
	}
	if want != "" && !equalJSON(got, want) {
		t.Fatalf("%s %s:\n got %s\nwant %s", method, body, got, want)
	}
	return got
}

func equalJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

// wsc is a gorilla client of a node's /ws.
type wsc struct {
	t *testing.T
	c *websocket.Conn
}

func dialWS(t *testing.T, addr string) *wsc {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &wsc{t, c}
}

func (w *wsc) send(msg string) {
	w.t.Helper()
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wsc) recv() string {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, p, err := w.c.ReadMessage()
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return string(p)
}

func (w *wsc) expect(want string) {
	w.t.Helper()
	if got := w.recv(); got != want {
		w.t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func (w *wsc) exchange(msg, want string) {
	w.t.Helper()
	w.send(msg)
	w.expect(want)
}

func (w *wsc) subscribe(ch string) {
	w.t.Helper()
	w.exchange(`{"type":"subscribe","id":"s","channel":"`+ch+`"}`, `{"type":"ack","id":"s"}`)
}

// idle proves nothing more is queued for the client: a ping's pong comes next.
func (w *wsc) idle(id string) {
	w.t.Helper()
	w.exchange(`{"type":"ping","id":"`+id+`"}`, `{"type":"pong","id":"`+id+`"}`)
}

// embeddedNATS runs a NATS server in the test process on a free port.
func embeddedNATS(t *testing.T) *natsserver.Server {
	t.Helper()
	return natsOn(t, -1)
}

// waitInfo waits until the API of addr lists n nodes.
func waitInfo(t *testing.T, addr string, n int) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, body := post(t, addr, "info", "")
		if st == 200 && strings.Count(body, `"name":`) == n {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("info never listed %d nodes: %d %s", n, st, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Every API method against one built node.
func TestBinaryAPI(t *testing.T) {
	n := startBinNode(t)
	a, b := dialWS(t, n.ws), dialWS(t, n.ws)
	a.subscribe("pres:lobby")
	b.subscribe("pres:lobby")
	b.subscribe("news")

	ok(t, n.api, "publish", `{"channel":"pres:lobby","data":{"text":"hi"}}`, `{"result":{}}`)
	a.expect(`{"type":"message","channel":"pres:lobby","data":{"text":"hi"}}`)
	b.expect(`{"type":"message","channel":"pres:lobby","data":{"text":"hi"}}`)
	ok(t, n.api, "broadcast", `{"channels":["news","pres:lobby"],"data":[1]}`, `{"result":{}}`)
	b.expect(`{"type":"message","channel":"news","data":[1]}`)
	b.expect(`{"type":"message","channel":"pres:lobby","data":[1]}`)
	a.expect(`{"type":"message","channel":"pres:lobby","data":[1]}`)
	a.idle("a1")
	b.idle("b1")

	pres := ok(t, n.api, "presence", `{"channel":"pres:lobby"}`, "")
	if strings.Count(pres, `"client":"`) != 2 || strings.Count(pres, `"user":""`) != 2 {
		t.Fatalf("presence: %s", pres)
	}
	ok(t, n.api, "presence_stats", `{"channel":"pres:lobby"}`, `{"result":{"num_clients":2,"num_users":0}}`)
	ok(t, n.api, "channels", `{"pattern":"*"}`, `{"result":{"channels":{"news":{"num_clients":1},"pres:lobby":{"num_clients":2}}}}`)
	info := ok(t, n.api, "info", "", "")
	if !strings.Contains(info, `"num_clients":2,"num_subscriptions":3,"uptime":`) {
		t.Fatalf("info: %s", info)
	}
	for _, m := range []string{"subscribe", "unsubscribe"} {
		ok(t, n.api, m, `{"user":"42","channel":"news"}`, `{"result":{"connections":0}}`)
	}
	ok(t, n.api, "disconnect", `{"user":"42","code":4000,"reason":"x"}`, `{"result":{"connections":0}}`)

	// refusals
	for _, c := range []struct {
		method, body string
		status       int
		code         string
	}{
		{"publish", `{"channel":"bad channel","data":1}`, 400, "INVALID_REQUEST"},
		{"presence", `{"channel":"news"}`, 400, "INVALID_REQUEST"},
		{"publish", `{"channel":"news"`, 400, "INVALID_JSON"},
		{"nope", `{}`, 404, "UNKNOWN_METHOD"},
		{"disconnect", `{"user":"42","code":1006}`, 400, "INVALID_REQUEST"},
	} {
		if st, body := post(t, n.api, c.method, c.body); st != c.status || !strings.Contains(body, `"`+c.code+`"`) {
			t.Errorf("%s %s: %d %s", c.method, c.body, st, body)
		}
	}
	req, _ := http.NewRequest("POST", "http://"+n.api+"/api/publish", strings.NewReader(`{"channel":"news","data":"x"}`))
	req.Header.Set("Authorization", "apikey wrong")
	if res, err := binClient.Do(req); err != nil || res.StatusCode != 401 {
		t.Fatalf("wrong key: %v %v", res, err)
	}
	b.idle("b2") // the refused publishes reached nobody

	// The admin page's keyless mount answers the same node.
	req, _ = http.NewRequest("POST", "http://"+n.admin+"/api/channels", strings.NewReader(`{"pattern":"news"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := binClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !equalJSON(string(body), `{"result":{"channels":{"news":{"num_clients":1}}}}`) {
		t.Fatalf("admin mount: %d %s", res.StatusCode, body)
	}

	// The presence message, gated by the namespace.
	a.send(`{"type":"presence","id":"p","channel":"pres:lobby"}`)
	if got := a.recv(); !strings.HasPrefix(got, `{"type":"presence","id":"p","clients":[{"client":"`) || strings.Count(got, `"client"`) != 2 {
		t.Fatalf("presence message: %s", got)
	}
	a.send(`{"type":"presence","id":"q","channel":"news"}`)
	if got := a.recv(); !strings.Contains(got, `"code":"PERMISSION_DENIED"`) || !strings.Contains(got, `"id":"q"`) {
		t.Fatalf("presence without the namespace's presence: %s", got)
	}
}

// Two built nodes over NATS: each API call covers both.
func TestBinaryAPICluster(t *testing.T) {
	ns := embeddedNATS(t)
	na := startBinNode(t, "-broker", ns.ClientURL(), "-node-name", "edge-a")
	nb := startBinNode(t, "-broker", ns.ClientURL(), "-node-name", "edge-b")
	info := waitInfo(t, na.api, 2)
	waitInfo(t, nb.api, 2)
	if !strings.Contains(info, `"name":"edge-a"`) || !strings.Contains(info, `"name":"edge-b"`) {
		t.Fatalf("info: %s", info)
	}
	a, b := dialWS(t, na.ws), dialWS(t, nb.ws)
	a.subscribe("room:1")
	// a's own join leaves its node after the ack (events are sent in the background): wait
	// for it, or it could reach b once b has subscribed.
	waitMetric(t, na.admin, "wsedge_join_leave_events_total", 1)
	b.subscribe("room:1")
	// a, on the other node, hears b join; b is not told of its own join
	var join struct{ Type, Channel, User, Client string }
	if err := json.Unmarshal([]byte(a.recv()), &join); err != nil || join.Type != "join" || join.Channel != "room:1" || join.User != "" {
		t.Fatalf("join: %+v %v", join, err)
	}
	bID, aID := join.Client, ""
	var r struct {
		Result struct{ Clients []struct{ Client string } }
	}
	if err := json.Unmarshal([]byte(ok(t, na.api, "presence", `{"channel":"room:1"}`, "")), &r); err != nil || len(r.Result.Clients) != 2 {
		t.Fatalf("presence: %+v %v", r, err)
	}
	for _, c := range r.Result.Clients {
		if c.Client != bID {
			aID = c.Client
		}
	}
	if aID == "" || aID[:16] == bID[:16] {
		t.Fatalf("presence %+v: the joiner %s and another node's client", r.Result.Clients, bID)
	}

	// publish on either node: both subscribers, exactly once
	for i, api := range []string{na.api, nb.api} {
		ok(t, api, "publish", fmt.Sprintf(`{"channel":"room:1","data":%d}`, i), `{"result":{}}`)
		a.expect(fmt.Sprintf(`{"type":"message","channel":"room:1","data":%d}`, i))
		b.expect(fmt.Sprintf(`{"type":"message","channel":"room:1","data":%d}`, i))
	}
	a.idle("a1")
	b.idle("b1")

	// presence, stats, channels from both nodes
	for _, api := range []string{na.api, nb.api} {
		var r struct {
			Result struct {
				Clients []struct{ Client, User string }
			}
		}
		if err := json.Unmarshal([]byte(ok(t, api, "presence", `{"channel":"room:1"}`, "")), &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Result.Clients) != 2 || r.Result.Clients[0].Client[:16] == r.Result.Clients[1].Client[:16] {
			t.Fatalf("presence does not show both nodes' clients: %+v", r.Result.Clients)
		}
		ok(t, api, "presence_stats", `{"channel":"room:1"}`, `{"result":{"num_clients":2,"num_users":0}}`)
		ok(t, api, "channels", `{"pattern":"room:*"}`, `{"result":{"channels":{"room:1":{"num_clients":2}}}}`)
		ok(t, api, "disconnect", `{"user":"42"}`, `{"result":{"connections":0}}`)
		ok(t, api, "subscribe", `{"user":"42","channel":"x"}`, `{"result":{"connections":0}}`)
	}
	// the client presence message gathers both nodes too
	b.send(`{"type":"presence","id":"p","channel":"room:1"}`)
	if got := b.recv(); strings.Count(got, `"client":"`) != 2 {
		t.Fatalf("presence message: %s", got)
	}
	// a leaves: b hears it
	a.c.Close()
	b.expect(`{"type":"leave","channel":"room:1","user":"","client":"` + aID + `"}`)

	// NATS down: every method is 503 UNAVAILABLE, and the publish reached nobody
	ns.Shutdown()
	ns.WaitForShutdown()
	nb.log.wait(t, "nats disconnected; publishes answer UNAVAILABLE until reconnected")
	for _, m := range []struct{ method, body string }{
		{"publish", `{"channel":"room:1","data":"lost"}`},
		{"broadcast", `{"channels":["room:1"],"data":"lost"}`},
		{"subscribe", `{"user":"42","channel":"x"}`},
		{"unsubscribe", `{"user":"42","channel":"x"}`},
		{"disconnect", `{"user":"42"}`},
		{"presence", `{"channel":"room:1"}`},
		{"presence_stats", `{"channel":"room:1"}`},
		{"channels", `{}`},
		{"info", `{}`},
	} {
		if st, body := post(t, nb.api, m.method, m.body); st != 503 || !strings.Contains(body, `"UNAVAILABLE"`) {
			t.Errorf("%s with NATS down: %d %s", m.method, st, body)
		}
	}
	b.idle("b2")
}

// waitMetric waits (10 s at most) until an unlabelled sample of the node's /metrics reaches
// want.
func waitMetric(t *testing.T, admin, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := binClient.Get("http://" + admin + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if metricValue(t, string(body), name) >= want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %v", name, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
