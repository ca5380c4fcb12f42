package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/routing"
)

// TestSessionRemoteIP: a handler's Session.RemoteIP is the client the
// connection is attributed to — the client a trusted proxy names in
// X-Forwarded-For, else the peer — now that the session asks its
// connection instead of keeping a copy (issue 19).
func TestSessionRemoteIP(t *testing.T) {
	for _, tc := range []struct {
		name, trusted, xff, want string
	}{
		{"direct", "", "", "127.0.0.1"},
		{"trusted proxy names the client", "127.0.0.1/32", "198.51.100.1, 203.0.113.7", "203.0.113.7"},
		{"trusted proxy without the header", "127.0.0.1/32", "", "127.0.0.1"},
		{"untrusted peer's header ignored", "", "203.0.113.7", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			o.TrustedProxies = tc.trusted
			s, err := New(o, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			s.Router().Handle("whoami", func(c *routing.Context) error {
				return c.ReplyJSON("whoami", map[string]string{"ip": c.Session().RemoteIP().String()})
			})
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			h := http.Header{}
			if tc.xff != "" {
				h.Set("X-Forwarded-For", tc.xff)
			}
			d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
			c, _, err := d.Dial(wsURL(s, "/ws"), h)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			var reply struct {
				Type string            `json:"type"`
				Data map[string]string `json:"data"`
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"whoami","id":"1"}`)); err != nil {
				t.Fatal(err)
			}
			if err := c.ReadJSON(&reply); err != nil {
				t.Fatal(err)
			}
			if reply.Type != "whoami" || reply.Data["ip"] != tc.want {
				t.Fatalf("reply %+v, want ip %s", reply, tc.want)
			}
		})
	}
}
