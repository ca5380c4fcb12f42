package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// Identity and permissions against the built binary: the rows of DESIGN's
// Identity and Permissions sections, the case, SIGHUP, and logs
// without tokens.

// idNodeFile is the config file of the identity tests: namespaces, and the
// secret in a file of its own (written next to it).
const idNodeFile = `handshake-timeout: 1s
shutdown-timeout: 1s
jwt-leeway: 0s
log-level: debug
namespaces:
  - name: user              # user:42 is for the backend to publish
    subscribe: authenticated
    publish: none
  - name: chat
    subscribe: authenticated
    publish: subscribers
  - name: private
    subscribe: token
`

func mint(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// idNode starts the binary with the config file (and extra flags) and
// returns it with its WebSocket address.
func idNode(t *testing.T, config string, args ...string) (*process, string) {
	t.Helper()
	n := startNode(t, nil, append([]string{"-config", config, "-addr", "127.0.0.1:0", "-admin-addr", ""}, args...)...)
	started := n.log.wait(t, "wsedge started")
	addr, _ := started["listen"].(string)
	return n, addr
}

// wsDial dials /ws with gorilla; the token goes in the header when given.
func wsDial(t *testing.T, addr, query, token string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws://"+addr+"/ws"+query, h)
	if err == nil {
		t.Cleanup(func() { c.Close() })
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
	}
	return c, resp, err
}

func say(t *testing.T, c *websocket.Conn, msg string) string {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	_, p, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("reply to %s: %v", msg, err)
	}
	return string(p)
}

func closeCodeOf(err error) int {
	var ce *websocket.CloseError
	if e, ok := err.(*websocket.CloseError); ok {
		ce = e
		return ce.Code
	}
	return 0
}

// TestBinaryIdentity: the Identity rows against the binary.
func TestBinaryIdentity(t *testing.T) {
	dir := t.TempDir()
	secretFile := writeFileIn(t, dir, "secret", secret32+"\n")
	cfg := writeFileIn(t, dir, "wsedge.yaml", idNodeFile+"jwt-hmac-secret-file: "+secretFile+"\n")
	node, addr := idNode(t, cfg)

	good := mint(t, secret32, jwt.MapClaims{"sub": "42", "info": map[string]any{"name": "Ann"}})
	bad := mint(t, "another-secret-of-at-least-32-bytes!!", jwt.MapClaims{"sub": "42"})
	expired := mint(t, secret32, jwt.MapClaims{"sub": "42", "exp": time.Now().Add(-time.Hour).Unix()})

	// Token at the upgrade: header or query; bad or expired -> 401.
	if _, resp, err := wsDial(t, addr, "", bad); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("bad token in the header: %v %v", resp, err)
	}
	if _, resp, err := wsDial(t, addr, "?token="+expired, ""); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("expired token in the query: %v %v", resp, err)
	}
	c, _, err := wsDial(t, addr, "?token="+good, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := say(t, c, `{"type":"subscribe","id":"1","channel":"user:42"}`); got != `{"type":"ack","id":"1"}` {
		t.Fatalf("subscribe user:42: %s", got)
	}
	// No token: 101, then connect within -handshake-timeout.
	c2, _, err := wsDial(t, addr, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := say(t, c2, `{"type":"connect","id":"c","token":"`+good+`"}`); !strings.Contains(got, `"type":"connected"`) || !strings.Contains(got, `"user":"42"`) {
		t.Fatalf("connect: %s", got)
	}
	for _, first := range []string{`{"type":"connect","id":"c","token":"` + bad + `"}`, `{"type":"ping","id":"p"}`, ""} {
		c3, _, err := wsDial(t, addr, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if first != "" {
			c3.WriteMessage(websocket.TextMessage, []byte(first))
		}
		_, _, err = c3.ReadMessage()
		if closeCodeOf(err) != 4001 {
			t.Fatalf("first message %q: %v, want close 4001", first, err)
		}
	}
	// A short token ends with 4001 at exp; refresh moves the end.
	exp := time.Now().Add(2 * time.Second).Unix()
	short := mint(t, secret32, jwt.MapClaims{"sub": "7", "exp": exp})
	ends, _, _ := wsDial(t, addr, "", short)
	refreshed, _, _ := wsDial(t, addr, "", short)
	later := mint(t, secret32, jwt.MapClaims{"sub": "7", "exp": exp + 60})
	if got := say(t, refreshed, `{"type":"refresh","id":"r","token":"`+later+`"}`); got != `{"type":"ack","id":"r"}` {
		t.Fatalf("refresh: %s", got)
	}
	other := mint(t, secret32, jwt.MapClaims{"sub": "8", "exp": exp + 60})
	if got := say(t, ends, `{"type":"refresh","id":"o","token":"`+other+`"}`); !strings.Contains(got, `"PERMISSION_DENIED"`) {
		t.Fatalf("refresh with another user's token: %s", got)
	}
	ends.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ends.ReadMessage(); closeCodeOf(err) != 4001 || time.Now().Unix() < exp {
		t.Fatalf("at exp: %v", err)
	}
	if got := say(t, refreshed, `{"type":"ping","id":"still"}`); got != `{"type":"pong","id":"still"}` {
		t.Fatalf("the refreshed connection: %s", got)
	}

	// Tokens never reach the log, even at debug level and in a query string.
	node.cmd.Process.Signal(syscall.SIGTERM)
	node.waitExit(t, 15*time.Second)
	node.log.mu.Lock()
	all := strings.Join(node.log.raw, "\n")
	node.log.mu.Unlock()
	for _, tok := range []string{good, bad, expired, short, later, other} {
		if strings.Contains(all, tok[strings.LastIndexByte(tok, '.')+1:]) {
			t.Fatalf("a token reached the log:\n%s", all)
		}
	}
	if strings.Contains(all, secret32) {
		t.Fatal("the secret reached the log")
	}
}

// TestBinaryAnonymousPublish is the case on a node with identities
// on: an anonymous client (-allow-anonymous) cannot publish into another
// user's channel, and the subscriber there gets nothing.
func TestBinaryAnonymousPublish(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFileIn(t, dir, "wsedge.yaml", idNodeFile)
	_, addr := idNode(t, cfg, "-allow-anonymous", "-jwt-hmac-secret", secret32)
	sub, _, err := wsDial(t, addr, "", mint(t, secret32, jwt.MapClaims{"sub": "42"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"user:42", "notifications#42"} {
		if got := say(t, sub, `{"type":"subscribe","id":"s","channel":"`+ch+`"}`); got != `{"type":"ack","id":"s"}` {
			t.Fatalf("subscribe %s: %s", ch, got)
		}
	}
	anon, _, err := wsDial(t, addr, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for ch, code := range map[string]string{"user:42": "PERMISSION_DENIED", "notifications#42": "UNAUTHORIZED", "nope:1": "PERMISSION_DENIED"} {
		got := say(t, anon, `{"type":"publish","id":"evil","channel":"`+ch+`","data":{"evil":true}}`)
		var r struct {
			Type, ID string
			Error    struct{ Code string }
		}
		if json.Unmarshal([]byte(got), &r) != nil || r.Type != "error" || r.ID != "evil" || r.Error.Code != code {
			t.Fatalf("anonymous publish into %s: %s, want %s", ch, got, code)
		}
	}
	if got := say(t, anon, `{"type":"ping","id":"p"}`); got != `{"type":"pong","id":"p"}` {
		t.Fatalf("the anonymous connection after its refusals: %s", got)
	}
	// The subscriber got nothing: the next thing it reads is its own pong.
	if got := say(t, sub, `{"type":"ping","id":"q"}`); got != `{"type":"pong","id":"q"}` {
		t.Fatalf("the subscriber received %s", got)
	}
}

// TestBinaryReloadAuth: SIGHUP re-reads the config file: new namespaces and
// a new secret apply to what comes next; a bad file is logged and the old
// configuration stays.
func TestBinaryReloadAuth(t *testing.T) {
	dir := t.TempDir()
	const next = "the-next-secret-of-at-least-32-bytes!!"
	secretFile := writeFileIn(t, dir, "secret", secret32)
	cfg := writeFileIn(t, dir, "wsedge.yaml", idNodeFile+"jwt-hmac-secret-file: "+secretFile+"\n")
	node, addr := idNode(t, cfg)
	c, _, err := wsDial(t, addr, "", mint(t, secret32, jwt.MapClaims{"sub": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := say(t, c, `{"type":"subscribe","id":"a","channel":"room:1"}`); !strings.Contains(got, "PERMISSION_DENIED") {
		t.Fatalf("room before the reload: %s", got)
	}
	writeFileIn(t, dir, "secret", next)
	writeFileIn(t, dir, "wsedge.yaml", idNodeFile+"  - name: room\n    subscribe: authenticated\njwt-hmac-secret-file: "+secretFile+"\n")
	node.cmd.Process.Signal(syscall.SIGHUP)
	node.log.wait(t, "SIGHUP: namespaces and token keys reloaded")
	if got := say(t, c, `{"type":"subscribe","id":"b","channel":"room:1"}`); got != `{"type":"ack","id":"b"}` {
		t.Fatalf("room after the reload: %s", got)
	}
	if _, resp, err := wsDial(t, addr, "", mint(t, secret32, jwt.MapClaims{"sub": "2"})); err == nil || resp.StatusCode != 401 {
		t.Fatalf("the old secret after the reload: %v", err)
	}
	if _, _, err := wsDial(t, addr, "", mint(t, next, jwt.MapClaims{"sub": "2"})); err != nil {
		t.Fatalf("the new secret: %v", err)
	}
	// A bad file: logged, nothing changes.
	writeFileIn(t, dir, "wsedge.yaml", idNodeFile+"  - name: room\n    subscribe: everyone\njwt-hmac-secret-file: "+secretFile+"\n")
	node.cmd.Process.Signal(syscall.SIGHUP)
	failed := node.log.wait(t, "SIGHUP: configuration reload failed, keeping the previous namespaces and token keys")
	if p, _ := failed["problem1"].(string); !strings.Contains(p, `namespaces[3].subscribe: "everyone" is not one of`) {
		t.Fatalf("the failure line: %v", failed)
	}
	if got := say(t, c, `{"type":"subscribe","id":"c","channel":"room:2"}`); got != `{"type":"ack","id":"c"}` {
		t.Fatalf("room after the bad reload: %s", got)
	}
	if _, _, err := wsDial(t, addr, "", mint(t, next, jwt.MapClaims{"sub": "3"})); err != nil {
		t.Fatalf("the secret after the bad reload: %v", err)
	}
}

// TestBinaryUpgradeRefusals: the exact answers of identity's refusals.
func TestBinaryUpgradeRefusals(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFileIn(t, dir, "wsedge.yaml", idNodeFile)
	_, addr := idNode(t, cfg, "-jwt-hmac-secret", secret32)
	for _, tc := range []struct {
		target, header, want string
	}{
		{"/ws", "Authorization: Bearer nope\r\n", "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 14\r\n\r\ninvalid token\n"},
		{"/ws?token=" + mint(t, secret32, jwt.MapClaims{"sub": "1", "exp": time.Now().Add(-time.Hour).Unix()}), "", "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 14\r\n\r\ntoken expired\n"},
		{"/echo", "", "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 20\r\n\r\na token is required\n"},
	} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+tc.header+"\r\n")
		got, _ := io.ReadAll(bufio.NewReader(c))
		c.Close()
		if string(got) != tc.want {
			t.Errorf("%s %q:\n got %q\nwant %q", tc.target[:min(len(tc.target), 20)], tc.header, got, tc.want)
		}
	}
}

func writeFileIn(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := dir + "/" + name
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
