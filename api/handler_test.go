package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestMethods(t *testing.T) {
	base, f, _ := startAPI(t, Config{})
	f.affected = Affected{Connections: 2}
	f.clients = []Client{{Client: "c1", User: "42", Info: json.RawMessage(`{"name":"Ann"}`)}, {Client: "c2", User: ""}}
	f.stats = PresenceStats{NumClients: 3, NumUsers: 2}
	f.channels = map[string]ChannelStats{"chat:1": {NumClients: 5}, "chat:2": {NumClients: 1}, "news": {NumClients: 9}}
	f.nodes = []NodeInfo{{Name: "a:8080", NumClients: 10, NumSubscriptions: 12, Uptime: 3600}}
	for _, tc := range []struct {
		method, body string
		call         string // what the node saw
		want         string // the whole answer
	}{
		{"publish", `{"channel":"news","data":{"text":"hi"}}`, `publish news {"text":"hi"}`, `{"result":{}}`},
		{"publish", ` { "data" : [1, 2.5e3, "x\u00e9"] , "channel" : "a:b" } `, `publish a:b [1, 2.5e3, "x\u00e9"]`, `{"result":{}}`},
		{"publish", `{"channel":"n","data":null}`, `publish n null`, `{"result":{}}`},
		{"broadcast", `{"channels":["a","b:c"],"data":"s"}`, `broadcast a,b:c "s"`, `{"result":{}}`},
		{"subscribe", `{"user":"42","channel":"chat:1"}`, `subscribe 42 chat:1`, `{"result":{"connections":2}}`},
		{"unsubscribe", `{"user":"42","channel":"chat:1"}`, `unsubscribe 42 chat:1`, `{"result":{"connections":2}}`},
		{"disconnect", `{"user":"42"}`, `disconnect 42 4003 `, `{"result":{"connections":2}}`},
		{"disconnect", `{"user":"u\"1","code":4100,"reason":"banned \u2603"}`, "disconnect u\"1 4100 banned \u2603", `{"result":{"connections":2}}`},
		{"disconnect", `{"user":"42","code":1012,"reason":null}`, `disconnect 42 1012 `, `{"result":{"connections":2}}`},
		{"presence", `{"channel":"chat:1"}`, `presence chat:1`,
			`{"result":{"clients":[{"client":"c1","user":"42","info":{"name":"Ann"}},{"client":"c2","user":""}]}}`},
		{"presence_stats", `{"channel":"chat:1"}`, `presence_stats chat:1`, `{"result":{"num_clients":3,"num_users":2}}`},
		{"channels", `{}`, `channels `,
			`{"result":{"channels":{"chat:1":{"num_clients":5},"chat:2":{"num_clients":1},"news":{"num_clients":9}}}}`},
		{"channels", `{"pattern":"chat:*"}`, `channels chat:*`, `{"result":{"channels":{"chat:1":{"num_clients":5},"chat:2":{"num_clients":1}}}}`},
		{"channels", ``, `channels `,
			`{"result":{"channels":{"chat:1":{"num_clients":5},"chat:2":{"num_clients":1},"news":{"num_clients":9}}}}`},
		{"info", `{}`, `info`, `{"result":{"nodes":[{"name":"a:8080","num_clients":10,"num_subscriptions":12,"uptime":3600}]}}`},
		{"info", ``, `info`, `{"result":{"nodes":[{"name":"a:8080","num_clients":10,"num_subscriptions":12,"uptime":3600}]}}`},
	} {
		before := len(f.Calls())
		code, h, body := post(t, base+"/api/"+tc.method, testKey, tc.body)
		if code != 200 || strings.TrimSpace(body) != tc.want {
			t.Errorf("%s %s: got %d %s, want 200 %s", tc.method, tc.body, code, body, tc.want)
		}
		if ct := h.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.method, ct)
		}
		if calls := f.Calls(); len(calls) != before+1 || calls[before] != tc.call {
			t.Errorf("%s %s: node saw %q, want %q", tc.method, tc.body, calls[before:], tc.call)
		}
	}
}

// Empty results are empty lists and objects, never null.
func TestEmptyResults(t *testing.T) {
	base, _, _ := startAPI(t, Config{})
	for _, tc := range []struct{ method, body, want string }{
		{"presence", `{"channel":"x"}`, `{"result":{"clients":[]}}`},
		{"channels", `{}`, `{"result":{"channels":{}}}`},
		{"info", `{}`, `{"result":{"nodes":[]}}`},
	} {
		method, want := tc.method, tc.want
		_, _, body := post(t, base+"/api/"+method, testKey, tc.body)
		if strings.TrimSpace(body) != want {
			t.Errorf("%s: got %s, want %s", method, body, want)
		}
	}
}

func TestKey(t *testing.T) {
	base, f, _ := startAPI(t, Config{})
	const body = `{"channel":"news","data":1}`
	for _, tc := range []struct {
		name   string
		header []string // Authorization values
	}{
		{"none", nil},
		{"wrong key", []string{"apikey wrong"}},
		{"key with a suffix", []string{"apikey " + testKey + "x"}},
		{"key prefix", []string{"apikey " + testKey[:10]}},
		{"empty key", []string{"apikey "}},
		{"other scheme", []string{"Bearer " + testKey}},
		{"no scheme", []string{testKey}},
		{"two headers", []string{"apikey " + testKey, "apikey " + testKey}},
		{"two spaces", []string{"apikey  " + testKey}},
	} {
		for _, path := range []string{"/api/publish", "/api/nope", "/other"} {
			req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
			for _, v := range tc.header {
				req.Header.Add("Authorization", v)
			}
			code, h, resp := do(t, req)
			if code != 401 {
				t.Errorf("%s %s: status %d, want 401", tc.name, path, code)
				continue
			}
			if c, _ := errorOf(t, resp); c != CodeUnauthorized {
				t.Errorf("%s: code %s", tc.name, c)
			}
			if h.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: no WWW-Authenticate", tc.name)
			}
		}
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("the node was called without the key: %q", calls)
	}
	// The scheme is case-insensitive, as HTTP schemes are.
	req, _ := http.NewRequest("POST", base+"/api/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "ApiKey "+testKey)
	if code, _, resp := do(t, req); code != 200 {
		t.Fatalf("ApiKey scheme: %d %s", code, resp)
	}
}

func TestRefusals(t *testing.T) {
	base, f, _ := startAPI(t, Config{ValidChannel: func(s string) bool { return DefaultValidChannel(s) && s != "forbidden" }})
	long := strings.Repeat("x", MaxReasonLen+1)
	for _, tc := range []struct {
		method, body string
		status       int
		code         string
		says         string // part of the message
	}{
		{"nope", `{}`, 404, CodeUnknownMethod, `"nope"`},
		{"", `{}`, 404, CodeUnknownMethod, "publish"},
		{"publish/x", `{}`, 404, CodeUnknownMethod, ""},
		{"PUBLISH", `{}`, 404, CodeUnknownMethod, ""},
		// not JSON
		{"publish", `{"channel":"a","data":}`, 400, CodeInvalidJSON, ""},
		{"publish", `{"channel":"a","data":1`, 400, CodeInvalidJSON, "end"},
		{"publish", `channel=a&data=1`, 400, CodeInvalidJSON, ""},
		{"publish", `[{"channel":"a","data":1}]`, 400, CodeInvalidJSON, "object"},
		{"publish", `"x"`, 400, CodeInvalidJSON, "object"},
		{"publish", `{"channel":"a","data":1}{}`, 400, CodeInvalidJSON, "more than one"},
		{"publish", `{"channel":"a","data":1} x`, 400, CodeInvalidJSON, ""},
		{"publish", "{\"channel\":\"a\",\"data\":\"\xff\"}", 400, CodeInvalidJSON, "UTF-8"},
		{"publish", "{\"channel\":\"a\",\"data\":\"tab\there\"}", 400, CodeInvalidJSON, "control"},
		{"publish", `{"channel":"a","data":01}`, 400, CodeInvalidJSON, "number"},
		{"publish", `{"channel":"a","data":tru}`, 400, CodeInvalidJSON, ""},
		{"publish", `{"channel":"a","data":"\x"}`, 400, CodeInvalidJSON, "escape"},
		{"publish", `{"channel":"a",}`, 400, CodeInvalidJSON, ""},
		{"publish", `{"chanel":"a","data":}`, 400, CodeInvalidJSON, ""}, // malformed wins over the unknown field
		{"publish", `{"channel":"a","data":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, 400, CodeInvalidJSON, "nested"},
		// wrong or missing fields
		{"publish", `{"channel":"a"}`, 400, CodeInvalidRequest, `"data" is required`},
		{"publish", `{"data":1}`, 400, CodeInvalidRequest, `"channel" is required`},
		{"publish", `{"channel":null,"data":1}`, 400, CodeInvalidRequest, `"channel" is required`},
		{"publish", ``, 400, CodeInvalidRequest, "required"},
		{"publish", `{"channel":5,"data":1}`, 400, CodeInvalidRequest, `"channel" must be a string`},
		{"publish", `{"channel":["a"],"data":1}`, 400, CodeInvalidRequest, "string"},
		{"publish", `{"chanel":"a","data":1}`, 400, CodeInvalidRequest, `unknown field "chanel"`},
		{"publish", `{"channel":"a","data":1,"Channel":"b"}`, 400, CodeInvalidRequest, "unknown field"},
		{"publish", `{"channel":"a","data":1,"channel":"b"}`, 400, CodeInvalidRequest, "twice"},
		{"publish", `{"channel":"a b","data":1}`, 400, CodeInvalidRequest, "invalid channel"},
		{"publish", `{"channel":"","data":1}`, 400, CodeInvalidRequest, "invalid channel"},
		{"publish", `{"channel":"forbidden","data":1}`, 400, CodeInvalidRequest, "invalid channel"},
		{"publish", `{"channel":"` + strings.Repeat("a", 129) + `","data":1}`, 400, CodeInvalidRequest, "invalid channel"},
		{"broadcast", `{"channels":[],"data":1}`, 400, CodeInvalidRequest, "empty"},
		{"broadcast", `{"channels":"a","data":1}`, 400, CodeInvalidRequest, "array"},
		{"broadcast", `{"channels":["a",1],"data":1}`, 400, CodeInvalidRequest, "array"},
		{"broadcast", `{"channels":["a","b c"],"data":1}`, 400, CodeInvalidRequest, "channels[1]"},
		{"broadcast", `{"channels":["a","b","a"],"data":1}`, 400, CodeInvalidRequest, "channels[2] repeats channels[0]"},
		{"broadcast", `{"channel":"a","data":1}`, 400, CodeInvalidRequest, "unknown field"},
		{"subscribe", `{"user":"","channel":"a"}`, 400, CodeInvalidRequest, `"user"`},
		{"subscribe", `{"user":42,"channel":"a"}`, 400, CodeInvalidRequest, `"user" must be a string`},
		{"subscribe", `{"channel":"a"}`, 400, CodeInvalidRequest, `"user" is required`},
		{"unsubscribe", `{"user":"1","channel":"a#"}`, 400, CodeInvalidRequest, "invalid channel"},
		{"disconnect", `{}`, 400, CodeInvalidRequest, `"user" is required`},
		{"disconnect", `{"user":"` + strings.Repeat("u", MaxUserLen+1) + `"}`, 400, CodeInvalidRequest, `"user"`},
		{"disconnect", `{"user":"1","code":1002}`, 400, CodeInvalidRequest, "not allowed"},
		{"disconnect", `{"user":"1","code":3999}`, 400, CodeInvalidRequest, "not allowed"},
		{"disconnect", `{"user":"1","code":5000}`, 400, CodeInvalidRequest, "not allowed"},
		{"disconnect", `{"user":"1","code":-4003}`, 400, CodeInvalidRequest, "not allowed"},
		{"disconnect", `{"user":"1","code":4000.5}`, 400, CodeInvalidRequest, "whole number"},
		{"disconnect", `{"user":"1","code":4e3}`, 400, CodeInvalidRequest, "whole number"},
		{"disconnect", `{"user":"1","code":"4003"}`, 400, CodeInvalidRequest, "whole number"},
		{"disconnect", `{"user":"1","code":99999999999999999999}`, 400, CodeInvalidRequest, "whole number"},
		{"disconnect", `{"user":"1","reason":"` + long + `"}`, 400, CodeInvalidRequest, "reason"},
		{"presence", `{"channel":""}`, 400, CodeInvalidRequest, "invalid channel"},
		{"presence_stats", `{}`, 400, CodeInvalidRequest, "required"},
		{"channels", `{"pattern":1}`, 400, CodeInvalidRequest, "string"},
		{"channels", `{"pattern":"` + strings.Repeat("*", MaxPatternLen+1) + `"}`, 400, CodeInvalidRequest, "pattern"},
		{"info", `{"verbose":true}`, 400, CodeInvalidRequest, "info takes no fields"},
	} {
		code, h, body := post(t, base+"/api/"+tc.method, testKey, tc.body)
		if code != tc.status {
			t.Errorf("%s %s: status %d (%s), want %d", tc.method, tc.body, code, body, tc.status)
			continue
		}
		c, msg := errorOf(t, body)
		if c != tc.code || !strings.Contains(msg, tc.says) {
			t.Errorf("%s %.80s: got %s %q, want %s containing %q", tc.method, tc.body, c, msg, tc.code, tc.says)
		}
		if h.Get("Content-Type") != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.method, h.Get("Content-Type"))
		}
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("the node was called for refused requests: %q", calls)
	}
}

func TestNotPost(t *testing.T) {
	base, f, _ := startAPI(t, Config{})
	for _, m := range []string{"GET", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		req, _ := http.NewRequest(m, base+"/api/info", nil)
		req.Header.Set("Authorization", "apikey "+testKey)
		code, h, body := do(t, req)
		if code != 405 || h.Get("Allow") != "POST" {
			t.Errorf("%s: %d Allow=%q", m, code, h.Get("Allow"))
			continue
		}
		if c, _ := errorOf(t, body); c != CodeMethodNotAllowed {
			t.Errorf("%s: code %s", m, c)
		}
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("node called: %q", calls)
	}
}

// Node errors map to statuses, and their message (never their cause)
// reaches the backend.
func TestNodeErrors(t *testing.T) {
	base, f, _ := startAPI(t, Config{})
	bodies := map[string]string{
		"publish": `{"channel":"a","data":1}`, "broadcast": `{"channels":["a","b","c"],"data":1}`,
		"subscribe": `{"user":"1","channel":"a"}`, "unsubscribe": `{"user":"1","channel":"a"}`,
		"disconnect": `{"user":"1"}`, "presence": `{"channel":"a"}`, "presence_stats": `{"channel":"a"}`,
		"channels": `{}`, "info": `{}`,
	}
	secret := errString("nats://user:secret@10.0.0.1")
	for _, tc := range []struct {
		err    error
		status int
		code   string
		says   string
	}{
		{Unavailable("channel broker unavailable", secret), 503, CodeUnavailable, "channel broker unavailable"},
		{NotFound("no such namespace"), 404, CodeNotFound, "no such namespace"},
		{Invalid("presence is off in namespace chat"), 400, CodeInvalidRequest, "presence is off"},
		{TooLarge("data over the broker's max_payload"), 413, CodeTooLarge, "max_payload"},
		{&Error{Kind: KindInternal, Message: "db on fire", Err: secret}, 500, CodeInternal, "internal error"},
		{secret, 500, CodeInternal, "internal error"},
	} {
		f.err = tc.err
		for method, body := range bodies {
			code, h, resp := post(t, base+"/api/"+method, testKey, body)
			c, msg := errorOf(t, resp)
			if code != tc.status || c != tc.code || !strings.Contains(msg, tc.says) {
				t.Errorf("%v %s: got %d %s %q, want %d %s %q", tc.err, method, code, c, msg, tc.status, tc.code, tc.says)
			}
			if strings.Contains(resp, "secret") || strings.Contains(resp, "db on fire") {
				t.Errorf("%s: the cause leaked: %s", method, resp)
			}
			if (code == 503) != (h.Get("Retry-After") != "") {
				t.Errorf("%s %d: Retry-After %q", method, code, h.Get("Retry-After"))
			}
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// A broadcast cut short says how many channels were published.
func TestBroadcastPartial(t *testing.T) {
	base, f, _ := startAPI(t, Config{})
	f.err, f.sent = Unavailable("channel broker unavailable", nil), 2
	code, _, body := post(t, base+"/api/broadcast", testKey, `{"channels":["a","b","c"],"data":1}`)
	var e struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			Published *int   `json:"published"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatal(err)
	}
	if code != 503 || e.Error.Code != CodeUnavailable || e.Error.Published == nil || *e.Error.Published != 2 ||
		!strings.Contains(e.Error.Message, "first 2 of 3") {
		t.Fatalf("got %d %s", code, body)
	}
	f.sent = 0 // nothing published: a plain 503 without "published"
	if code, _, body = post(t, base+"/api/broadcast", testKey, `{"channels":["a","b","c"],"data":1}`); code != 503 || strings.Contains(body, "published") {
		t.Fatalf("got %d %s", code, body)
	}
}

// The keyless mount of the admin listener refuses what a foreign page
// could make a browser send.
func TestKeyless(t *testing.T) {
	f := &fakeNode{}
	h, err := NewHandler(f, Config{Keyless: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, h)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"admin page", map[string]string{"Content-Type": "application/json", "Origin": "http://" + srv, "Sec-Fetch-Site": "same-origin"}, 200},
		{"curl", map[string]string{"Content-Type": "application/json"}, 200},
		{"charset", map[string]string{"Content-Type": "application/json; charset=utf-8"}, 200},
		{"form post", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, 415},
		{"no type", map[string]string{}, 415},
		{"other origin", map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}, 403},
		{"null origin", map[string]string{"Content-Type": "application/json", "Origin": "null"}, 403},
		{"cross-site fetch", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site fetch", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 403},
	} {
		req, _ := http.NewRequest("POST", "http://"+srv+"/api/publish", strings.NewReader(`{"channel":"a","data":1}`))
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		if code, _, body := do(t, req); code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.status)
		}
	}
	if got := len(f.Calls()); got != 3 {
		t.Fatalf("node called %d times, want 3", got)
	}
	if _, err := NewHandler(f, Config{}); err != ErrNoKey {
		t.Fatalf("NewHandler without a key: %v", err)
	}
}

func TestPublishDataKept(t *testing.T) {
	// data reaches the node byte for byte (whitespace and escapes kept):
	// clients receive what the backend sent.
	base, f, _ := startAPI(t, Config{})
	data := `{ "t" : "\u00e9\n\"", "n": [1e-3, -0, true, false, null], "e": {} }`
	if code, _, body := post(t, base+"/api/publish", testKey, `{"channel":"a","data":`+data+`}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if calls := f.Calls(); !slices.Equal(calls, []string{"publish a " + data}) {
		t.Fatalf("node saw %q", calls)
	}
}
