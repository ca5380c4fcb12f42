package server

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// TestUpgradeToken: a token at the upgrade, in the Authorization header or
// the token query parameter: a valid one upgrades with its identity, any
// other is answered 401 in plain HTTP (DESIGN: Identity; refusals).
func TestUpgradeToken(t *testing.T) {
	o := idOptions()
	o.JWTAudience = "app"
	o.MaxHeaderBytes = 256 << 10 // the 100 KB token reaches the verifier, whose size cap refuses it
	s := startIDServer(t, o)
	now := time.Now()
	valid := hs256(t, jwt.MapClaims{"sub": "42", "aud": "app", "info": map[string]any{"name": "Ann"}})
	enc := base64.RawURLEncoding
	none := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(`{"sub":"42","aud":"app"}`)) + "."
	var toks []string
	for _, tc := range []struct {
		name   string
		token  string
		query  bool
		status int
		body   string
	}{
		{"bearer", valid, false, 101, ""},
		{"query", valid, true, 101, ""},
		{"expired", hs256(t, jwt.MapClaims{"sub": "42", "aud": "app", "exp": now.Add(-time.Minute).Unix()}), false, 401, "token expired"},
		{"expired in the query", hs256(t, jwt.MapClaims{"sub": "42", "aud": "app", "exp": now.Add(-time.Minute).Unix()}), true, 401, "token expired"},
		{"other secret", signHS(t, "another-secret-of-at-least-32-bytes!!", jwt.MapClaims{"sub": "42", "aud": "app"}), false, 401, "invalid token"},
		{"other audience", hs256(t, jwt.MapClaims{"sub": "42", "aud": "other"}), false, 401, "invalid token"},
		{"nbf ahead", hs256(t, jwt.MapClaims{"sub": "42", "aud": "app", "nbf": now.Add(time.Hour).Unix()}), false, 401, "invalid token"},
		{"no sub", hs256(t, jwt.MapClaims{"aud": "app"}), false, 401, "invalid token"},
		{"subscription token", hs256(t, jwt.MapClaims{"sub": "42", "aud": "app", "channel": "news"}), false, 401, "invalid token"},
		{"alg none", none, true, 401, "invalid token"},
		{"garbage", "not-a-jwt", false, 401, "invalid token"},
		{"two segments", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9", true, 401, "invalid token"},
		{"100 KB", strings.Repeat("A", 100<<10), true, 401, "invalid token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toks = append(toks, tc.token)
			target, extra := "/ws", bearer(tc.token)
			if tc.query {
				target, extra = "/ws?room=1&token="+url.QueryEscape(tc.token), ""
			}
			status, hdr, body, rc := upgradeWith(t, s, target, extra)
			if status != tc.status || strings.TrimSpace(body) != tc.body {
				t.Fatalf("status %d %q, want %d %q", status, body, tc.status, tc.body)
			}
			if status == 401 && hdr.Get("Retry-After") != "" {
				t.Fatalf("401 with Retry-After %q", hdr.Get("Retry-After"))
			}
			if rc != nil {
				got := rc.roundTrip(`{"type":"whoami","id":"w"}`)
				if !strings.Contains(got, `"user":"42"`) || !strings.Contains(got, `"info":{"name":"Ann"}`) {
					t.Fatalf("whoami: %s", got)
				}
			}
		})
	}
	if got := counterValue(t, s.Metrics().Rejected.WithLabelValues("token_invalid")); got != 9 {
		t.Errorf("wsedge_connections_rejected_total{reason=token_invalid} = %v, want 9", got)
	}
	expectNoToken(t, toks...)
}

// TestUpgradeTokenLibraries: independent clients present the token the
// ways they can: gorilla in the header, coder in the query.
func TestUpgradeTokenLibraries(t *testing.T) {
	s := startIDServer(t, idOptions())
	tok := userToken(t, "ann")
	d := websocket.Dialer{HandshakeTimeout: wsTimeout}
	g, _, err := d.Dial(wsURL(s, "/ws"), http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	gc := &gorillaClient{c: g}
	gc.send(t, `{"type":"whoami","id":"1"}`)
	if got := string(gc.recv(t)); !strings.Contains(got, `"user":"ann"`) {
		t.Fatalf("gorilla: %s", got)
	}
	_, resp, err := d.Dial(wsURL(s, "/ws"), http.Header{"Authorization": {"Bearer x" + tok}})
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("gorilla with a bad token: %v %v", resp, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), wsTimeout)
	defer cancel()
	k, _, err := coder.Dial(ctx, wsURL(s, "/ws?token="+tok), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseNow()
	kc := &coderClient{c: k}
	kc.send(t, `{"type":"whoami","id":"2"}`)
	if got := string(kc.recv(t)); !strings.Contains(got, `"user":"ann"`) {
		t.Fatalf("coder: %s", got)
	}
}

// TestUpgradePipelined: frames a client sends right behind its upgrade
// request wait while the token is checked, and are answered in order once
// it is.
func TestUpgradePipelined(t *testing.T) {
	s := startIDServer(t, idOptions())
	c := rawDial(t, s)
	req := upgradeRequest("/ws", bearer(userToken(t, "7")))
	msgs := []byte(req)
	for i := range 20 {
		msgs = append(msgs, msgFrame(1, true, `{"type":"ping","id":"`+string(rune('a'+i))+`"}`)...)
	}
	msgs = append(msgs, msgFrame(1, true, `{"type":"whoami","id":"w"}`)...)
	if _, err := c.Write(msgs); err != nil {
		t.Fatal(err)
	}
	rc := readUpgrade(t, c)
	for i := range 20 {
		if got, want := rc.text(), `{"type":"pong","id":"`+string(rune('a'+i))+`"}`; got != want {
			t.Fatalf("reply %d: %s, want %s", i, got, want)
		}
	}
	if got := rc.text(); !strings.Contains(got, `"user":"7"`) {
		t.Fatalf("whoami: %s", got)
	}
}

// TestConnectMessage: without a token at the upgrade the connection opens
// (101) and its first message must be connect with a valid token, within
// -handshake-timeout; anything else closes it with 4001.
func TestConnectMessage(t *testing.T) {
	o := idOptions()
	o.HandshakeTimeout = 500 * time.Millisecond
	s := startIDServer(t, o)
	valid := hs256(t, jwt.MapClaims{"sub": "42", "info": map[string]any{"n": 1}})
	expired := hs256(t, jwt.MapClaims{"sub": "42", "exp": time.Now().Add(-time.Minute).Unix()})
	for _, tc := range []struct {
		name   string
		first  []byte // nil: say nothing
		reason string // the 4001 close reason; "" when it connects
	}{
		{"connect", msgFrame(1, true, `{"type":"connect","id":"c1","token":"`+valid+`"}`), ""},
		{"connect without id", msgFrame(1, true, `{"type":"connect","token":"`+valid+`"}`), ""},
		{"invalid token", msgFrame(1, true, `{"type":"connect","id":"c1","token":"x`+valid+`"}`), "invalid token"},
		{"expired token", msgFrame(1, true, `{"type":"connect","id":"c1","token":"`+expired+`"}`), "token expired"},
		{"no token", msgFrame(1, true, `{"type":"connect","id":"c1"}`), "connect needs a token"},
		{"another first message", msgFrame(1, true, `{"type":"subscribe","id":"s","channel":"news"}`), "the first message must be connect"},
		{"not JSON", msgFrame(1, true, `connect`), "the first message must be connect"},
		{"binary", msgFrame(2, true, `{"type":"connect","token":"`+valid+`"}`), "the first message must be connect"},
		{"silence", nil, "no connect in time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, _, rc := upgradeWith(t, s, "/ws", "")
			if status != 101 {
				t.Fatalf("upgrade without a token: %d", status)
			}
			start := time.Now()
			if tc.first != nil {
				rc.send(tc.first)
			}
			if tc.reason != "" {
				if got := rc.expectCloseReason(4001); got != tc.reason {
					t.Fatalf("close reason %q, want %q", got, tc.reason)
				}
				if tc.first == nil {
					checkElapsed(t, "closed for silence", time.Since(start), o.HandshakeTimeout)
				}
				return
			}
			got := rc.text()
			client := jsonField(t, got, "client")
			if jsonField(t, got, "type") != `"connected"` || jsonField(t, got, "user") != `"42"` || len(client) < 10 {
				t.Fatalf("connect answered %s", got)
			}
			if strings.Contains(tc.name, "without id") != (jsonField(t, got, "id") == "") {
				t.Fatalf("id echoed wrong: %s", got)
			}
			// Identified, and past the handshake timeout without a close.
			time.Sleep(o.HandshakeTimeout + 100*time.Millisecond)
			if w := rc.roundTrip(`{"type":"whoami","id":"w"}`); !strings.Contains(w, `"user":"42"`) || !strings.Contains(w, `"info":{"n":1}`) {
				t.Fatalf("whoami: %s", w)
			}
			if e := rc.roundTrip(`{"type":"connect","id":"again","token":"` + valid + `"}`); checkError([]byte(e), "INVALID_MESSAGE", `"again"`) != nil {
				t.Fatalf("a second connect: %s", e)
			}
		})
	}
	if got := timeouts(t, s, "connect"); got != 1 {
		t.Errorf("wsedge_timeouts_total{kind=connect} = %v, want 1", got)
	}
	expectNoToken(t, valid, expired)
}

// TestConnectPipelined: messages sent right behind connect, in the same
// write, are answered after connected, in order, with the identity set.
func TestConnectPipelined(t *testing.T) {
	s := startIDServer(t, idOptions())
	c := rawDial(t, s)
	b := []byte(upgradeRequest("/ws", ""))
	b = append(b, msgFrame(1, true, `{"type":"connect","id":"c","token":"`+userToken(t, "9")+`"}`)...)
	for i := range 10 {
		b = append(b, msgFrame(1, true, `{"type":"whoami","id":"`+string(rune('0'+i))+`"}`)...)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	rc := readUpgrade(t, c)
	if got := rc.text(); jsonField(t, got, "type") != `"connected"` {
		t.Fatalf("first reply %s", got)
	}
	for i := range 10 {
		got := rc.text()
		if jsonField(t, got, "id") != `"`+string(rune('0'+i))+`"` || !strings.Contains(got, `"user":"9"`) {
			t.Fatalf("reply %d: %s", i, got)
		}
	}
}

// TestAllowAnonymous: with -allow-anonymous a node with keys takes
// connections without a token (any first message), with a valid token
// (either way), and still refuses an invalid one.
func TestAllowAnonymous(t *testing.T) {
	o := idOptions()
	o.AllowAnonymous = true
	o.HandshakeTimeout = 300 * time.Millisecond
	s := startIDServer(t, o)
	_, _, _, anon := upgradeWith(t, s, "/ws", "")
	time.Sleep(o.HandshakeTimeout + 100*time.Millisecond) // no connect needed in time
	if got := anon.roundTrip(`{"type":"whoami","id":"1"}`); !strings.Contains(got, `"user":""`) {
		t.Fatalf("anonymous whoami: %s", got)
	}
	if got := anon.roundTrip(`{"type":"connect","id":"2","token":"` + userToken(t, "5") + `"}`); checkError([]byte(got), "INVALID_MESSAGE", `"2"`) != nil {
		t.Fatalf("connect after the first message: %s", got)
	}
	_, _, _, viaConnect := upgradeWith(t, s, "/ws", "")
	if got := viaConnect.roundTrip(`{"type":"connect","id":"c","token":"` + userToken(t, "5") + `"}`); !strings.Contains(got, `"user":"5"`) {
		t.Fatalf("connect: %s", got)
	}
	_, _, _, viaHeader := upgradeWith(t, s, "/ws", bearer(userToken(t, "6")))
	if got := viaHeader.roundTrip(`{"type":"whoami","id":"1"}`); !strings.Contains(got, `"user":"6"`) {
		t.Fatalf("token at the upgrade: %s", got)
	}
	if status, _, _, _ := upgradeWith(t, s, "/ws", bearer("bad")); status != 401 {
		t.Fatalf("a bad token with -allow-anonymous: %d, want 401", status)
	}
	_, _, _, bad := upgradeWith(t, s, "/ws", "")
	bad.send(msgFrame(1, true, `{"type":"connect","token":"bad"}`))
	bad.expectCloseReason(4001)
	// /echo has no connect message: anonymous, or a token at the upgrade.
	if status, _, _, _ := upgradeWith(t, s, "/echo", ""); status != 101 {
		t.Fatalf("/echo anonymous: %d", status)
	}
}

// TestEchoNeedsToken: with identities required, /echo takes its token at
// the upgrade (it has no connect message).
func TestEchoNeedsToken(t *testing.T) {
	s := startIDServer(t, idOptions())
	if status, _, body, _ := upgradeWith(t, s, "/echo", ""); status != 401 || strings.TrimSpace(body) != "a token is required" {
		t.Fatalf("/echo without a token: %d %q", status, body)
	}
	_, _, _, rc := upgradeWith(t, s, "/echo", bearer(userToken(t, "1")))
	if got := rc.roundTrip("hello"); got != "hello" {
		t.Fatalf("echo: %q", got)
	}
}
