package server

import (
	"crypto/tls"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/testcert"
	"github.com/wsedge/wsedge/perm"
)

// TestReloadAuth: a reload swaps the keys and the namespaces at once;
// connections keep their identity; a bad configuration leaves everything
// as it was; identities cannot be turned off by a reload.
func TestReloadAuth(t *testing.T) {
	o := idOptions()
	o.Namespaces = []perm.Namespace{{Name: "chat", Subscribe: perm.SubscribeAuthenticated, Publish: perm.PublishAuthenticated}}
	s := startIDServer(t, o)
	_, _, _, old := upgradeWith(t, s, "/ws", bearer(userToken(t, "1")))

	const newSecret = "the-next-secret-of-at-least-32-bytes!!"
	next := o.AuthOptions
	next.JWTHMACSecret = newSecret
	next.Namespaces = []perm.Namespace{{Name: "room", Subscribe: perm.SubscribeAuthenticated, Publish: perm.PublishAuthenticated}}
	if err := s.ReloadAuth(next); err != nil {
		t.Fatal(err)
	}
	if status, _, _, _ := upgradeWith(t, s, "/ws", bearer(userToken(t, "2"))); status != 401 {
		t.Fatalf("a token of the old secret after the reload: %d", status)
	}
	_, _, _, fresh := upgradeWith(t, s, "/ws", bearer(signHS(t, newSecret, map[string]any{"sub": "2"})))
	for _, c := range []*rawClient{old, fresh} {
		if got := c.roundTrip(`{"type":"subscribe","id":"a","channel":"room:x"}`); got != `{"type":"ack","id":"a"}` {
			t.Fatalf("the new namespace: %s", got)
		}
		if err := checkError([]byte(c.roundTrip(`{"type":"subscribe","id":"b","channel":"chat:x"}`)), "PERMISSION_DENIED", `"b"`); err != nil {
			t.Fatalf("the old namespace: %v", err)
		}
	}
	if got := old.roundTrip(`{"type":"whoami","id":"w"}`); !strings.Contains(got, `"user":"1"`) {
		t.Fatalf("the old connection lost its identity: %s", got)
	}

	for _, bad := range []AuthOptions{
		func() AuthOptions { b := next; b.JWTHMACSecret = "short"; return b }(),
		func() AuthOptions { b := next; b.Namespaces = append(b.Namespaces, b.Namespaces[0]); return b }(),
		func() AuthOptions { b := next; b.JWTPublicKey = "/nonexistent.pem"; return b }(),
		func() AuthOptions { b := next; b.JWTHMACSecret = ""; return b }(), // identities off
	} {
		if err := s.ReloadAuth(bad); err == nil {
			t.Fatalf("a bad reload was taken: %+v", bad)
		}
	}
	if status, _, _, _ := upgradeWith(t, s, "/ws", bearer(signHS(t, newSecret, map[string]any{"sub": "3"}))); status != 101 {
		t.Fatalf("after the bad reloads the good keys went: %d", status)
	}
	if got := fresh.roundTrip(`{"type":"subscribe","id":"c","channel":"room:y"}`); got != `{"type":"ack","id":"c"}` {
		t.Fatalf("after the bad reloads the namespaces went: %s", got)
	}
}

// TestTLSTokenPipelined: over wss, frames sent behind the upgrade request
// wait in the TLS layer while the token is checked, then are answered.
func TestTLSTokenPipelined(t *testing.T) {
	certFile, keyFile, pool := testcert.Write(t, t.TempDir(), 1)
	o := idOptions()
	o.TLSCert, o.TLSKey = certFile, keyFile
	s := startIDServer(t, o)
	c, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b := []byte(upgradeRequest("/ws", bearer(userToken(t, "tls"))))
	for _, m := range []string{`{"type":"ping","id":"1"}`, `{"type":"whoami","id":"2"}`} {
		b = append(b, msgFrame(1, true, m)...)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	rc := readUpgrade(t, c)
	if got := rc.text(); got != `{"type":"pong","id":"1"}` {
		t.Fatalf("first: %s", got)
	}
	if got := rc.text(); !strings.Contains(got, `"user":"tls"`) {
		t.Fatalf("second: %s", got)
	}
	// A refusal over TLS is an HTTP answer too.
	c2, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c2, upgradeRequest("/ws", bearer("bad")))
	got, _ := io.ReadAll(c2)
	if !strings.HasPrefix(string(got), "HTTP/1.1 401 Unauthorized\r\n") {
		t.Fatalf("over TLS: %q", got)
	}
}
