// Command gws is the lxzan/gws peer echo server for wsbench compare: net/http
// upgrade, then gws's ReadLoop per connection with an event handler.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/lxzan/gws"
)

type echo struct{ gws.BuiltinEventHandler }

func (echo) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (echo) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	path := flag.String("echo-path", "/echo", "echo path")
	flag.Parse()

	up := gws.NewUpgrader(echo{}, &gws.ServerOption{})
	mux := http.NewServeMux()
	mux.HandleFunc(*path, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	})
	log.Fatal(http.ListenAndServe(*addr, mux))
}
