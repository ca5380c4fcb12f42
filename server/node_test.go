package server

import (
	"fmt"
	"strings"
	"testing"
)

// Every server API method on one node (no broker), over real HTTP, against real clients.
func TestAPISingleNode(t *testing.T) {
	s := startServer(t, backendOptions())
	base := apiURL(t, s)

	ann := dialUser(t, s, "42", `{"name":"Ann"}`)
	ann2 := dialUser(t, s, "42", "")
	bob := dialUser(t, s, "77", "")
	anon := dialUser(t, s, "", "")
	for _, c := range []*gorillaClient{ann, bob, anon} {
		subscribe(t, c, "pres:lobby")
	}

	// publish, broadcast
	mustCall(t, base, "publish", `{"channel":"pres:lobby","data":{"text":"hi"}}`, `{"result":{}}`)
	for _, c := range []*gorillaClient{ann, bob, anon} {
		expectMsg(t, c, `{"type":"message","channel":"pres:lobby","data":{"text":"hi"}}`)
	}
	subscribe(t, bob, "news")
	mustCall(t, base, "broadcast", `{"channels":["pres:lobby","news"],"data":1}`, `{"result":{}}`)
	expectMsg(t, bob, `{"type":"message","channel":"pres:lobby","data":1}`)
	expectMsg(t, bob, `{"type":"message","channel":"news","data":1}`)
	expectMsg(t, ann, `{"type":"message","channel":"pres:lobby","data":1}`)
	expectMsg(t, anon, `{"type":"message","channel":"pres:lobby","data":1}`)
	expectIdle(t, ann2, "i0")

	// subscribe: every connection of the user, each told once; a repeat counts, tells nobody
	mustCall(t, base, "subscribe", `{"user":"42","channel":"notifications#42"}`, `{"result":{"connections":2}}`)
	for _, c := range []*gorillaClient{ann, ann2} {
		expectMsg(t, c, `{"type":"subscribed","channel":"notifications#42"}`)
	}
	mustCall(t, base, "subscribe", `{"user":"42","channel":"notifications#42"}`, `{"result":{"connections":2}}`)
	mustCall(t, base, "publish", `{"channel":"notifications#42","data":"for 42"}`, `{"result":{}}`)
	for _, c := range []*gorillaClient{ann, ann2} {
		expectMsg(t, c, `{"type":"message","channel":"notifications#42","data":"for 42"}`)
	}
	expectIdle(t, bob, "i1")
	mustCall(t, base, "subscribe", `{"user":"nobody","channel":"news"}`, `{"result":{"connections":0}}`)
	mustCall(t, base, "unsubscribe", `{"user":"42","channel":"notifications#42"}`, `{"result":{"connections":2}}`)
	for _, c := range []*gorillaClient{ann, ann2} {
		expectMsg(t, c, `{"type":"unsubscribed","channel":"notifications#42"}`)
	}
	mustCall(t, base, "publish", `{"channel":"notifications#42","data":"gone"}`, `{"result":{}}`)
	expectIdle(t, ann, "i2")

	// presence, presence_stats, channels, info
	got := mustCall(t, base, "presence", `{"channel":"pres:lobby"}`, "")
	for _, want := range []string{`"user":"42","info":{"name":"Ann"}`, `"user":"77"}`, `"user":""}`} {
		if !strings.Contains(got, want) {
			t.Errorf("presence %s lacks %s", got, want)
		}
	}
	if n := strings.Count(got, `"client":"`); n != 3 {
		t.Errorf("presence lists %d clients: %s", n, got)
	}
	mustCall(t, base, "presence_stats", `{"channel":"pres:lobby"}`, `{"result":{"num_clients":3,"num_users":2}}`)
	mustCall(t, base, "presence_stats", `{"channel":"pres:empty"}`, `{"result":{"num_clients":0,"num_users":0}}`)
	mustCall(t, base, "channels", `{"pattern":"pres:*"}`, `{"result":{"channels":{"pres:lobby":{"num_clients":3}}}}`)
	mustCall(t, base, "channels", `{}`, `{"result":{"channels":{"pres:lobby":{"num_clients":3},"news":{"num_clients":1}}}}`)
	info := mustCall(t, base, "info", ``, "")
	if !strings.Contains(info, `"num_clients":4,"num_subscriptions":4`) || strings.Count(info, `"name"`) != 1 {
		t.Errorf("info: %s", info)
	}

	// presence in a namespace without it is refused
	for _, m := range []string{"presence", "presence_stats"} {
		if st, body := call(t, base, m, `{"channel":"news"}`); st != 400 || !strings.Contains(body, "INVALID_REQUEST") {
			t.Errorf("%s without presence: %d %s", m, st, body)
		}
	}

	// disconnect: every connection of the user, with the code and reason
	mustCall(t, base, "disconnect", `{"user":"42"}`, `{"result":{"connections":2}}`)
	expectClose(t, ann, 4003, "")
	expectClose(t, ann2, 4003, "")
	mustCall(t, base, "disconnect", `{"user":"77","code":4010,"reason":"account suspended"}`, `{"result":{"connections":1}}`)
	expectClose(t, bob, 4010, "account suspended")
	waitFor(t, wsTimeout, "the closed connections gone", func() bool { return s.Connections() == 1 })
	mustCall(t, base, "disconnect", `{"user":"42"}`, `{"result":{"connections":0}}`)
	mustCall(t, base, "presence_stats", `{"channel":"pres:lobby"}`, `{"result":{"num_clients":1,"num_users":0}}`)
	expectIdle(t, anon, "i3")
}

// The API's channel rule is the node's: user-limited names pass, others are refused.
func TestAPIChannelRule(t *testing.T) {
	s := startServer(t, backendOptions())
	base := apiURL(t, s)
	for _, ch := range []string{"a b", "dm#", "dm#1,", "x#a#b", strings.Repeat("c", 129)} {
		if st, body := call(t, base, "publish", fmt.Sprintf(`{"channel":%q,"data":1}`, ch)); st != 400 {
			t.Errorf("publish to %q: %d %s", ch, st, body)
		}
	}
	mustCall(t, base, "publish", `{"channel":"dm#42,43","data":1}`, `{"result":{}}`)
}
