//go:build linux

package wsfleet

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestFleetAgainstGorilla: a gorilla server (an implementation independent
// of this client) acks the subscribe, pings, sends a numbered stream with one
// number twice and one missing on a chosen connection, then closes 1012:
// the fleet reports it all per connection.
func TestFleetAgainstGorilla(t *testing.T) {
	const conns, msgs = 50, 20
	var up websocket.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		_, p, err := c.ReadMessage()
		if err != nil || !strings.Contains(string(p), `"type":"subscribe","channel":"news"`) {
			t.Errorf("subscribe: %q %v", p, err)
			return
		}
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack","id":"s"}`))
		pong := make(chan struct{})
		c.SetPongHandler(func(string) error { close(pong); return nil })
		c.WriteMessage(websocket.PingMessage, []byte("p"))
		odd := r.URL.Query().Get("odd") != ""
		for i := 0; i < msgs; i++ {
			k := i
			if odd && i == 5 {
				k = 4 // 4 twice, 5 missing
			}
			c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"message","channel":"news","data":%d}`, k)))
		}
		go c.ReadMessage() // runs the pong handler, then sees our close answered
		select {
		case <-pong:
		case <-time.After(5 * time.Second):
			t.Error("no pong")
		}
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1012, "restart"))
		time.Sleep(100 * time.Millisecond)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	f, err := Dial(Config{Addr: addr, Path: "/ws", Conns: conns, Subscribe: "news"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	odd, err := Dial(Config{Addr: addr, Path: "/ws?odd=1", Conns: 1, Subscribe: "news"})
	if err != nil {
		t.Fatal(err)
	}
	defer odd.Close()
	ports := map[int]bool{}
	for _, c := range f.WaitClosed(10 * time.Second) {
		if c.CloseCode != 1012 || c.Received != msgs || c.Last != msgs-1 || c.Errors != 0 || c.Replies != 1 || c.LocalPort == 0 {
			t.Fatalf("connection %+v", c)
		}
		ports[c.LocalPort] = true
	}
	if len(ports) != conns {
		t.Errorf("%d distinct local ports for %d connections", len(ports), conns)
	}
	if c := odd.WaitClosed(10 * time.Second)[0]; c.Errors != 2 || c.Received != msgs || c.CloseCode != 1012 {
		t.Errorf("a stream with a duplicate and a gap: %+v, want 2 errors", c)
	}
}
