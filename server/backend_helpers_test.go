package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/wsedge/wsedge/api"
	"github.com/wsedge/wsedge/perm"
)

// The backend tests run real nodes with a real API listener, real WebSocket clients and,
// for the cluster, a real embedded NATS server. Users come from an Authenticator (the
// embedding interface), reading X-User and X-Info from the upgrade request.

const testAPIKey = "test-api-key-0123456789abcdef"

// backendOptions: test options with users from X-User/X-Info and the namespaces the tests
// use: "pres" (presence), "room" (presence and join/leave), the default one (neither).
func backendOptions() Options {
	o := testOptions()
	o.Authenticator = AuthenticatorFunc(func(_ context.Context, r *UpgradeInfo) (Identity, error) {
		var info []byte
		if i := r.Header.Get("X-Info"); i != "" {
			info = []byte(i)
		}
		return Identity{User: r.Header.Get("X-User"), Info: info}, nil
	})
	o.Namespaces = []perm.Namespace{
		{Name: "pres", Subscribe: perm.SubscribeAnyone, Publish: perm.PublishAnyone, Presence: true},
		{Name: "room", Subscribe: perm.SubscribeAnyone, Publish: perm.PublishAnyone, Presence: true, JoinLeave: true},
	}
	return o
}

// startNATS runs an embedded NATS server until the test ends (or Shutdown).
func startNATS(t testing.TB) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// apiURL serves s's server API on a loopback port and returns its base URL.
func apiURL(t testing.TB, s *Server) string {
	t.Helper()
	node := s.APINode()
	l, err := api.Serve(node, api.Config{Key: testAPIKey, Timeout: 20 * time.Second, // generous: a loaded machine
		ValidChannel: node.(interface{ ValidChannel(string) bool }).ValidChannel}, api.ListenConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Stop(ctx)
	})
	return "http://" + l.Addr().String()
}

var apiClient = &http.Client{Timeout: 10 * time.Second}

// call posts body to /api/method and returns the status and the answer.
func call(t testing.TB, base, method, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/api/"+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "apikey "+testAPIKey)
	res, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, strings.TrimSpace(string(b))
}

// mustCall requires a 200 answer equal to want (compared as JSON when want is not "").
func mustCall(t testing.TB, base, method, body, want string) string {
	t.Helper()
	st, got := call(t, base, method, body)
	if st != 200 {
		t.Fatalf("%s %s: %d %s", method, body, st, got)
	}
	if want != "" && !sameJSON(got, want) {
		t.Fatalf("%s %s:\n got %s\nwant %s", method, body, got, want)
	}
	return got
}

// sameJSON compares two JSON texts by value.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// dialUser connects to s's /ws as user (anonymous when ""), with info.
func dialUser(t testing.TB, s *Server, user, info string) *gorillaClient {
	t.Helper()
	h := http.Header{}
	if user != "" {
		h.Set("X-User", user)
	}
	if info != "" {
		h.Set("X-Info", info)
	}
	d := websocket.Dialer{HandshakeTimeout: wsTimeout}
	c, _, err := d.Dial(wsURL(s, "/ws"), h)
	if err != nil {
		t.Fatalf("dial %s as %q: %v", wsURL(s, "/ws"), user, err)
	}
	t.Cleanup(func() { c.Close() })
	return &gorillaClient{c: c}
}

// subscribe subscribes c to channel.
func subscribe(t testing.TB, c wsClient, channel string) {
	t.Helper()
	exchange(t, c, `{"type":"subscribe","id":"s","channel":"`+channel+`"}`, `{"type":"ack","id":"s"}`)
}

// expectClose requires the next thing on the connection to be a close with code and reason.
func expectClose(t testing.TB, c *gorillaClient, code int, reason string) {
	t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(wsTimeout))
	_, p, err := c.c.ReadMessage()
	if err == nil {
		t.Fatalf("message %s while waiting for close %d", p, code)
	}
	ce, ok := err.(*websocket.CloseError)
	if !ok || ce.Code != code || ce.Text != reason {
		t.Fatalf("closed with %v, want %d %q", err, code, reason)
	}
}

// waitNodes waits until the API of base lists n nodes (peers are known from heartbeats).
func waitNodes(t testing.TB, base string, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, "the cluster's nodes", func() bool {
		st, body := call(t, base, "info", "")
		var r struct {
			Result struct{ Nodes []api.NodeInfo } `json:"result"`
		}
		return st == 200 && json.Unmarshal([]byte(body), &r) == nil && len(r.Result.Nodes) == n
	})
}
