package bench

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// startServer serves h on 127.0.0.1:0 in this process and returns a Target.
func startServer(t *testing.T, path string, h http.HandlerFunc) Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, h)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	tg, err := ParseTarget(t.Context(), "ws://"+ln.Addr().String()+path, false)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

var testUpgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// echoHandler is a gorilla echo server, like bench/peers/gorilla.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	c, err := testUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		op, m, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(op, m); err != nil {
			return
		}
	}
}

// pubsub is a minimal server of wsedge's subscribe/publish protocol. It
// records each connection's subscriptions and refuses channels that start
// with "forbidden" (PERMISSION_DENIED).
type pubsub struct {
	deflate bool // negotiate permessage-deflate
	mu      sync.Mutex
	subs    map[*websocket.Conn]*sync.Mutex
	byConn  map[*websocket.Conn][]string
}

// subscriptions returns each connection's channels, in subscribe order.
func (ps *pubsub) subscriptions() [][]string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out [][]string
	for _, chans := range ps.byConn {
		out = append(out, chans)
	}
	return out
}

func (ps *pubsub) handle(w http.ResponseWriter, r *http.Request) {
	up := testUpgrader
	up.EnableCompression = ps.deflate
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	wmu := &sync.Mutex{}
	defer func() {
		ps.mu.Lock()
		delete(ps.subs, c)
		ps.mu.Unlock()
		c.Close()
	}()
	for {
		_, m, err := c.ReadMessage()
		if err != nil {
			return
		}
		var req struct {
			Type, ID, Channel string
			Data              json.RawMessage
		}
		if json.Unmarshal(m, &req) != nil {
			return
		}
		switch req.Type {
		case "subscribe":
			if strings.HasPrefix(req.Channel, "forbidden") {
				wmu.Lock()
				_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"error","id":"`+req.ID+`","error":{"code":"PERMISSION_DENIED","message":"no"}}`))
				wmu.Unlock()
				continue
			}
			ps.mu.Lock()
			ps.subs[c] = wmu
			if ps.byConn == nil {
				ps.byConn = map[*websocket.Conn][]string{}
			}
			ps.byConn[c] = append(ps.byConn[c], req.Channel)
			ps.mu.Unlock()
		case "publish":
			out, _ := json.Marshal(map[string]any{"type": "message", "channel": req.Channel, "data": req.Data})
			ps.mu.Lock()
			for s, smu := range ps.subs {
				smu.Lock()
				_ = s.WriteMessage(websocket.TextMessage, out)
				smu.Unlock()
			}
			ps.mu.Unlock()
		}
		wmu.Lock()
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack","id":"`+strings.ReplaceAll(req.ID, `"`, "")+`"}`))
		wmu.Unlock()
	}
}

func newSubs() map[*websocket.Conn]*sync.Mutex { return map[*websocket.Conn]*sync.Mutex{} }
