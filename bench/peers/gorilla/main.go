// Command gorilla is the gorilla/websocket peer echo server for wsbench
// compare: net/http, one goroutine per connection, ReadMessage/WriteMessage.
// -tls-cert/-tls-key serve wss://; -compression negotiates permessage-deflate
// (gorilla's only mode: no context takeover) at level 1.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/gorilla/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	path := flag.String("echo-path", "/echo", "echo path")
	cert := flag.String("tls-cert", "", "certificate (PEM): serve wss://")
	key := flag.String("tls-key", "", "private key (PEM) of -tls-cert")
	compress := flag.Bool("compression", false, "negotiate permessage-deflate (no context takeover, level 1)")
	flag.Parse()

	up := websocket.Upgrader{
		ReadBufferSize:    4096,
		WriteBufferSize:   4096,
		CheckOrigin:       func(*http.Request) bool { return true },
		EnableCompression: *compress,
	}
	mux := http.NewServeMux()
	mux.HandleFunc(*path, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if *compress {
			_ = c.SetCompressionLevel(1)
		}
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(op, msg); err != nil {
				return
			}
		}
	})
	if *cert != "" {
		log.Fatal(http.ListenAndServeTLS(*addr, *cert, *key, mux))
	}
	log.Fatal(http.ListenAndServe(*addr, mux))
}
