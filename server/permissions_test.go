package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wsedge/wsedge/perm"
)

// permBackend is the application backend of -proxy-subscribe-url and
// -proxy-publish-url: it decides by the channel's name and records what it
// was asked.
type permBackend struct {
	*httptest.Server
	mu    sync.Mutex
	asked []map[string]any
	block chan struct{} // "billing:slow" waits for it
}

func newPermBackend(t testing.TB) *permBackend {
	b := &permBackend{block: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "bad request", 400)
			return
		}
		b.mu.Lock()
		b.asked = append(b.asked, req)
		b.mu.Unlock()
		switch ch, _ := req["channel"].(string); ch {
		case "billing:ok":
			io.WriteString(w, `{"result":{}}`)
		case "billing:no":
			io.WriteString(w, `{"error":{"code":"NOPE","message":"not your invoice"}}`)
		case "billing:403":
			w.WriteHeader(403)
		case "billing:500":
			w.WriteHeader(500)
		case "billing:garbage":
			io.WriteString(w, `<html>`)
		case "billing:slow":
			select {
			case <-b.block:
			case <-r.Context().Done():
			}
			io.WriteString(w, `{"result":{}}`)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(func() { close(b.block); b.Close() })
	return b
}

func (b *permBackend) last() map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.asked) == 0 {
		return nil
	}
	return b.asked[len(b.asked)-1]
}

// permOptions: identities on with anonymous connections allowed, and the
// namespaces of docs/auth.md's example.
func permOptions(backend string) Options {
	o := idOptions()
	o.AllowAnonymous = true
	o.Namespaces = []perm.Namespace{
		{Name: "public", Subscribe: perm.SubscribeAnyone, Publish: perm.PublishAuthenticated},
		{Name: "chat", Subscribe: perm.SubscribeAuthenticated, Publish: perm.PublishSubscribers},
		{Name: "private", Subscribe: perm.SubscribeToken, Publish: perm.PublishAuthenticated},
		{Name: "billing", Subscribe: perm.SubscribeProxy, Publish: perm.PublishProxy},
		{Name: "open", Subscribe: perm.SubscribeAnyone, Publish: perm.PublishAnyone},
	}
	o.ProxySubscribeURL = backend + "/subscribe"
	o.ProxyPublishURL = backend + "/publish"
	o.ProxyTimeout = 500 * time.Millisecond
	return o
}

// TestPermissions: every rule of the Permissions section, for an anonymous
// connection and two users: the answer is ack, or an error with the
// request's id, and the connection stays open.
func TestPermissions(t *testing.T) {
	b := newPermBackend(t)
	s := startIDServer(t, permOptions(b.URL))
	_, _, _, anon := upgradeWith(t, s, "/ws", "")
	_, _, _, u42 := upgradeWith(t, s, "/ws", bearer(userToken(t, "42")))
	_, _, _, u43 := upgradeWith(t, s, "/ws", bearer(userToken(t, "43")))
	subTok := func(user, channel string) string {
		return hs256(t, jwt.MapClaims{"sub": user, "channel": channel})
	}
	who := map[string]*rawClient{"anon": anon, "42": u42, "43": u43}
	for i, tc := range []struct {
		who, msg string
		want     string // "ack" or an error code
	}{
		// The case: anonymous publishing into someone else's channel.
		{"anon", `{"type":"publish","channel":"user:42","data":{"evil":true}}`, "PERMISSION_DENIED"},
		{"anon", `{"type":"publish","channel":"notifications#42","data":{"evil":true}}`, "UNAUTHORIZED"},
		{"43", `{"type":"publish","channel":"notifications#42","data":{"evil":true}}`, "PERMISSION_DENIED"},
		// The default namespace with identities on: authenticated, read-only.
		{"anon", `{"type":"subscribe","channel":"news"}`, "UNAUTHORIZED"},
		{"42", `{"type":"subscribe","channel":"news"}`, "ack"},
		{"42", `{"type":"publish","channel":"news","data":1}`, "PERMISSION_DENIED"},
		// Undeclared namespaces are refused.
		{"42", `{"type":"subscribe","channel":"nope:x"}`, "PERMISSION_DENIED"},
		// User-limited channels: only the listed users.
		{"42", `{"type":"subscribe","channel":"notifications#42"}`, "ack"},
		{"43", `{"type":"subscribe","channel":"notifications#42"}`, "PERMISSION_DENIED"},
		{"anon", `{"type":"subscribe","channel":"notifications#42"}`, "UNAUTHORIZED"},
		{"43", `{"type":"subscribe","channel":"chat:dm#42,43"}`, "ack"},
		{"43", `{"type":"publish","channel":"chat:dm#42,43","data":"hi"}`, "ack"},
		// subscribe: anyone, publish: authenticated.
		{"anon", `{"type":"subscribe","channel":"public:lobby"}`, "ack"},
		{"anon", `{"type":"publish","channel":"public:lobby","data":1}`, "UNAUTHORIZED"},
		{"42", `{"type":"publish","channel":"public:lobby","data":1}`, "ack"},
		// publish: subscribers.
		{"42", `{"type":"publish","channel":"chat:room","data":1}`, "PERMISSION_DENIED"},
		{"42", `{"type":"subscribe","channel":"chat:room"}`, "ack"},
		{"42", `{"type":"publish","channel":"chat:room","data":1}`, "ack"},
		{"anon", `{"type":"subscribe","channel":"chat:room"}`, "UNAUTHORIZED"},
		// subscribe: token.
		{"42", `{"type":"subscribe","channel":"private:x"}`, "PERMISSION_DENIED"},
		{"42", `{"type":"subscribe","channel":"private:x","token":"` + subTok("43", "private:x") + `"}`, "PERMISSION_DENIED"},
		{"42", `{"type":"subscribe","channel":"private:x","token":"` + subTok("42", "private:y") + `"}`, "PERMISSION_DENIED"},
		{"42", `{"type":"subscribe","channel":"private:x","token":"` + userToken(t, "42") + `"}`, "PERMISSION_DENIED"},
		{"42", `{"type":"subscribe","channel":"private:x","token":"garbage"}`, "PERMISSION_DENIED"},
		{"anon", `{"type":"subscribe","channel":"private:x","token":"` + subTok("", "private:x") + `"}`, "UNAUTHORIZED"},
		{"42", `{"type":"subscribe","channel":"private:x","token":"` + subTok("42", "private:x") + `"}`, "ack"},
		// The backend decides.
		{"42", `{"type":"subscribe","channel":"billing:ok"}`, "ack"},
		{"42", `{"type":"subscribe","channel":"billing:no"}`, "PERMISSION_DENIED"},
		{"42", `{"type":"subscribe","channel":"billing:403"}`, "PERMISSION_DENIED"},
		{"42", `{"type":"subscribe","channel":"billing:500"}`, "UNAVAILABLE"},
		{"42", `{"type":"subscribe","channel":"billing:garbage"}`, "UNAVAILABLE"},
		{"42", `{"type":"subscribe","channel":"billing:slow"}`, "UNAVAILABLE"},
		{"anon", `{"type":"publish","channel":"billing:ok","data":{"x":1}}`, "ack"},
		{"42", `{"type":"publish","channel":"billing:no","data":{"x":1}}`, "PERMISSION_DENIED"},
		// Anyone.
		{"anon", `{"type":"subscribe","channel":"open:x"}`, "ack"},
		{"anon", `{"type":"publish","channel":"open:x","data":1}`, "ack"},
		// Names break the grammar: INVALID_MESSAGE, before any rule.
		{"42", `{"type":"subscribe","channel":"a#"}`, "INVALID_MESSAGE"},
		{"42", `{"type":"publish","channel":"dm#1,,2","data":1}`, "INVALID_MESSAGE"},
	} {
		c := who[tc.who]
		id := `"p` + formatInt(int64(i)) + `"`
		msg := strings.Replace(tc.msg, `{"type":`, `{"id":`+id+`,"type":`, 1)
		c.send(msgFrame(1, true, msg))
		got := c.text()
		for strings.Contains(got, `"type":"message"`) { // a publish reaches its subscribed sender first
			if strings.Contains(got, "evil") {
				t.Fatalf("%s got %s", tc.who, got)
			}
			got = c.text()
		}
		if tc.want == "ack" {
			if got != `{"type":"ack","id":`+id+`}` {
				t.Fatalf("%s %s: %s, want ack", tc.who, tc.msg, got)
			}
			continue
		}
		if err := checkError([]byte(got), tc.want, id); err != nil {
			t.Fatalf("%s %s: %v", tc.who, tc.msg, err)
		}
		if tc.want == "PERMISSION_DENIED" && strings.Contains(tc.msg, "billing:no") && !strings.Contains(got, "not your invoice") {
			t.Fatalf("the backend's message is not passed on: %s", got)
		}
	}
	// What the backend was told about the connection.
	if last := b.last(); last["user"] != "42" || last["channel"] != "billing:no" || last["data"] == nil || last["client"] == "" {
		t.Fatalf("the backend got %v", last)
	}
	// Still open, and nobody got the refused publishes: 42's only
	// messages are the ones allowed.
	for name, c := range who {
		expectIdleRaw(t, c, name)
	}
}

// expectIdleRaw: nothing is pending on c but what the test sent (the next
// reply is the pong) – the channel messages the subscriptions above bring
// are read first and must be from allowed publishes only.
func expectIdleRaw(t *testing.T, c *rawClient, name string) {
	t.Helper()
	c.send(msgFrame(1, true, `{"type":"ping","id":"idle"}`))
	for {
		got := c.text()
		if got == `{"type":"pong","id":"idle"}` {
			return
		}
		if strings.Contains(got, "evil") || !strings.Contains(got, `"type":"message"`) {
			t.Fatalf("%s got %s", name, got)
		}
	}
}

// TestPermissionOrder: a subscribe the backend is slow to decide keeps its
// place: the ping sent after it is answered after it.
func TestPermissionOrder(t *testing.T) {
	b := newPermBackend(t)
	o := permOptions(b.URL)
	o.ProxyTimeout = 5 * time.Second
	s := startIDServer(t, o)
	_, _, _, c := upgradeWith(t, s, "/ws", bearer(userToken(t, "1")))
	c.send(msgFrame(1, true, `{"type":"subscribe","id":"slow","channel":"billing:slow"}`),
		msgFrame(1, true, `{"type":"ping","id":"after"}`))
	go func() {
		time.Sleep(300 * time.Millisecond)
		b.block <- struct{}{}
	}()
	if got := c.text(); got != `{"type":"ack","id":"slow"}` {
		t.Fatalf("first reply %s", got)
	}
	if got := c.text(); got != `{"type":"pong","id":"after"}` {
		t.Fatalf("second reply %s", got)
	}
}

// TestChannelsClaim: the channels claim subscribes at connect, at the
// upgrade and with connect, before the connection's first message is
// answered; even a user-limited channel of another user (the issuer
// granted it).
func TestChannelsClaim(t *testing.T) {
	s := startIDServer(t, idOptions())
	tok := hs256(t, jwt.MapClaims{"sub": "42", "channels": []string{"news", "notifications#42", "team#7", "bad name"}})
	_, _, _, upg := upgradeWith(t, s, "/ws", bearer(tok))
	_, _, _, con := upgradeWith(t, s, "/ws", "")
	if got := con.roundTrip(`{"type":"connect","id":"c","token":"` + tok + `"}`); !strings.Contains(got, "connected") {
		t.Fatalf("connect: %s", got)
	}
	expectIdleRaw(t, upg, "upgrade") // answered: the subscriptions are in place
	hub := s.Router().Hub()
	for _, ch := range []string{"news", "notifications#42", "team#7"} {
		if n := hub.Subscribers(ch); n != 2 {
			t.Fatalf("%s has %d subscribers, want 2", ch, n)
		}
		if err := hub.Publish(ch, []byte(`"hi"`), routingPublishOptions()); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*rawClient{upg, con} {
			if got, want := c.text(), `{"type":"message","channel":"`+ch+`","data":"hi"}`; got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
		}
	}
}
