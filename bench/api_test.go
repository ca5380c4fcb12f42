package bench

import (
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// apiStandIn serves POST /api/publish for the nodes: it checks the key and publishes to every
// subscriber of each node, as wsedge's server API does across a cluster.
func apiStandIn(t *testing.T, key string, nodes ...*pubsub) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/publish" || r.Header.Get("Authorization") != "apikey "+key {
			w.WriteHeader(401)
			return
		}
		var req struct {
			Channel string
			Data    json.RawMessage
		}
		if json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(400)
			return
		}
		out, _ := json.Marshal(map[string]any{"type": "message", "channel": req.Channel, "data": req.Data})
		for _, ps := range nodes {
			ps.mu.Lock()
			for s, smu := range ps.subs {
				smu.Lock()
				_ = s.WriteMessage(websocket.TextMessage, out)
				smu.Unlock()
			}
			ps.mu.Unlock()
		}
		w.Write([]byte(`{"result":{}}`))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// Both variants deliver every publish to every subscriber and time them; the API variant
// also times its calls and spreads subscribers over the nodes.
func TestAPIScenario(t *testing.T) {
	ps1, ps2 := &pubsub{subs: newSubs()}, &pubsub{subs: newSubs()}
	tg1, tg2 := startServer(t, "/ws", ps1.handle), startServer(t, "/ws", ps2.handle)
	api := apiStandIn(t, "k", ps1, ps2)
	r, err := APIPublish(t.Context(), APIConfig{Targets: []Target{tg1, tg2}, APIURL: api, APIKey: "k",
		Subs: 41, Rate: 40, Duration: time.Second, Variants: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	v := r.Variants[0]
	if r.Nodes != 2 || v.Ready != 41 || v.Published == 0 || v.Refused != 0 || v.Delivered != v.Expected ||
		v.Latency.Count != v.Delivered || v.APILatency == nil || v.APILatency.Count != v.Published {
		t.Fatalf("%+v %+v", r, v)
	}
	if n1, n2 := len(ps1.subscriptions()), len(ps2.subscriptions()); n1 != 21 || n2 != 20 {
		t.Fatalf("subscribers spread %d/%d", n1, n2)
	}

	r, err = APIPublish(t.Context(), APIConfig{Common: Common{Target: tg1}, APIURL: api, APIKey: "k",
		Subs: 20, Rate: 40, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Variants) != 2 || r.Variants[1].Name != "client" {
		t.Fatalf("%+v", r)
	}
	for _, v := range r.Variants {
		if v.Ready != 20 || v.Published == 0 || v.Delivered != v.Expected || v.Latency.Count != v.Delivered {
			t.Fatalf("%s: %+v", v.Name, v)
		}
	}
	// A wrong key: every publish refused, nothing delivered.
	r, err = APIPublish(t.Context(), APIConfig{Common: Common{Target: tg1}, APIURL: api, APIKey: "wrong",
		Subs: 5, Rate: 40, Duration: time.Second, Variants: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Variants[0]; v.Published != 0 || v.Refused == 0 || v.Delivered != 0 {
		t.Fatalf("wrong key: %+v", v)
	}
}
