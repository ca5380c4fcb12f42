package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// browserIdentityChecks are the checks identity.js must report.
var browserIdentityChecks = []string{
	"connect: connected with the token's user",
	"connect: subscribe on the identified connection",
	"connect: a message on the channel arrives",
	"refresh: the library refreshes before exp",
	"refresh: still connected past the first token's exp",
	"4001: a bad token is closed with 4001",
	"4001: the library gets a fresh token and connects",
	"expiry: connected with a 3 s token and no getToken",
	"expiry: closed with 4001 at exp",
	"expiry: a new token brings it back",
}

// TestBrowserIdentity: Chromium runs the client library against a node
// with identities on: the connect message (a browser cannot set headers on
// a WebSocket), refresh, 4001 for a bad token and at exp.
func TestBrowserIdentity(t *testing.T) {
	bin := needChromium(t)
	const secret = "browser-test-secret-of-at-least-32-bytes"
	web := httptest.NewUnstartedServer(nil)
	t.Cleanup(web.Close)
	origin := "http://" + web.Listener.Addr().String()
	conf := filepath.Join(t.TempDir(), "wsedge.yaml")
	os.WriteFile(conf, []byte("jwt-leeway: 0s\nnamespaces:\n  - name: \"\"\n    subscribe: authenticated\n    publish: authenticated\n"), 0o600)
	node := newWsedge(t, "-allowed-origins", origin, "-config", conf, "-jwt-hmac-secret", secret)
	if err := node.start(); err != nil {
		t.Fatal(err)
	}
	mint := func(user string, life time.Duration, key string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user, "exp": time.Now().Add(life).Unix()}).SignedString([]byte(key))
		if err != nil {
			t.Error(err)
		}
		return tok
	}
	results := make(chan []byte, 1)
	mux := http.NewServeMux()
	mux.Handle("/", Handler())
	mux.Handle("/test/", http.StripPrefix("/test/", http.FileServer(http.Dir(filepath.Join("testdata", "browser")))))
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"ws": "ws://" + node.addr + "/ws", "deadlineMs": browserPageWait.Milliseconds()})
	})
	// The application backend's part: it issues tokens, and publishes.
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		life, _ := strconv.Atoi(r.URL.Query().Get("life"))
		key := secret
		if r.URL.Query().Get("bad") == "1" {
			key = "not-the-node-secret-but-32-bytes-long!!"
		}
		io.WriteString(w, mint(r.URL.Query().Get("user"), time.Duration(life)*time.Second, key))
	})
	mux.HandleFunc("GET /publish", func(w http.ResponseWriter, r *http.Request) {
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
		c, _, err := d.Dial("ws://"+node.addr+"/ws", http.Header{"Authorization": {"Bearer " + mint("backend", time.Minute, secret)}})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer c.Close()
		msg := fmt.Sprintf(`{"type":"publish","id":"p","channel":%q,"data":%s}`, r.URL.Query().Get("channel"), r.URL.Query().Get("data"))
		c.WriteMessage(websocket.TextMessage, []byte(msg))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, p, err := c.ReadMessage()
		if err != nil || string(p) != `{"type":"ack","id":"p"}` {
			http.Error(w, fmt.Sprintf("publish: %s %v", p, err), 500)
		}
	})
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		select {
		case results <- body:
		default:
		}
	})
	web.Config.Handler = mux
	web.Start()

	ctx, cancel := context.WithTimeout(context.Background(), browserWait)
	defer cancel()
	_, out, exited := chromium(ctx, t, bin, web.URL+"/test/identity.html")
	var body []byte
	select {
	case body = <-results:
	case err := <-exited:
		t.Fatalf("chromium exited before the page reported (%v):\n%s", err, tail(out.String()))
	case <-ctx.Done():
		t.Fatalf("no result within %v; chromium:\n%s\nwsedge:\n%s", browserWait, tail(out.String()), tail(node.log.String()))
	}
	var res struct {
		UserAgent string
		Checks    []browserCheck
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("result %q: %v", body, err)
	}
	t.Logf("browser: %s", res.UserAgent)
	seen := map[string]bool{}
	for _, c := range res.Checks {
		t.Logf("%6d ms  %v  %s", c.Ms, c.OK, c.Name)
		seen[c.Name] = true
		if !c.OK {
			t.Errorf("browser check %q failed: %s", c.Name, c.Detail)
		}
	}
	for _, name := range browserIdentityChecks {
		if !seen[name] {
			t.Errorf("the page did not report %q", name)
		}
	}
	if len(res.Checks) != len(browserIdentityChecks) {
		t.Errorf("the page reported %d checks, want %d", len(res.Checks), len(browserIdentityChecks))
	}
	if t.Failed() {
		t.Logf("chromium:\n%s\nwsedge:\n%s", tail(out.String()), tail(node.log.String()))
	}
}
