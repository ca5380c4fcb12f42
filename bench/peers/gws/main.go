// Command gws is the lxzan/gws peer echo server for wsbench compare: net/http
// upgrade, then gws's ReadLoop per connection with an event handler.
// -tls-cert/-tls-key serve wss://; -compression negotiates permessage-deflate
// without context takeover at level 1, for messages of 128 bytes and more.
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
	cert := flag.String("tls-cert", "", "certificate (PEM): serve wss://")
	key := flag.String("tls-key", "", "private key (PEM) of -tls-cert")
	compress := flag.Bool("compression", false, "negotiate permessage-deflate (no context takeover, level 1)")
	flag.Parse()

	opt := &gws.ServerOption{}
	if *compress {
		opt.PermessageDeflate = gws.PermessageDeflate{Enabled: true, Level: 1, Threshold: 128}
	}
	up := gws.NewUpgrader(echo{}, opt)
	mux := http.NewServeMux()
	mux.HandleFunc(*path, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	})
	if *cert != "" {
		log.Fatal(http.ListenAndServeTLS(*addr, *cert, *key, mux))
	}
	log.Fatal(http.ListenAndServe(*addr, mux))
}
