package server_test

import (
	"fmt"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/routing"
	"github.com/wsedge/wsedge/server"
)

// A node with a message type of its own, next to the built-in ones.
func ExampleServer_Router() {
	opts := server.Defaults()
	opts.Addr, opts.AdminAddr = "127.0.0.1:0", ""
	s, err := server.New(opts, nil, nil)
	if err != nil {
		panic(err)
	}
	// {"type":"whoami","id":…} -> {"type":"whoami","id":…,"data":{"ip":…,"user":…}}
	s.Router().Handle("whoami", func(c *routing.Context) error {
		sess := c.Session()
		return c.ReplyJSON("whoami", map[string]any{"ip": sess.RemoteIP().String(), "user": sess.User()})
	})
	if err := s.Start(); err != nil {
		panic(err)
	}
	defer s.Close()

	c, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr().String()+"/ws", nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"whoami","id":"1"}`))
	_, reply, _ := c.ReadMessage()
	fmt.Println(string(reply))
	// Output: {"type":"whoami","id":"1","data":{"ip":"127.0.0.1","user":""}}
}
