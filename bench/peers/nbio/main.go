// Command nbio is the lesismal/nbio peer echo server for wsbench compare:
// nbhttp's epoll engine (non-blocking mode) with its websocket upgrader.
// -tls-cert/-tls-key serve wss:// (nbio's own non-blocking fork of
// crypto/tls); -compression negotiates permessage-deflate at level 1.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	path := flag.String("echo-path", "/echo", "echo path")
	cert := flag.String("tls-cert", "", "certificate (PEM): serve wss://")
	key := flag.String("tls-key", "", "private key (PEM) of -tls-cert")
	compress := flag.Bool("compression", false, "negotiate permessage-deflate (level 1)")
	flag.Parse()

	up := websocket.NewUpgrader()
	up.CheckOrigin = func(*http.Request) bool { return true }
	if *compress {
		up.EnableCompression(true)
		if err := up.SetCompressionLevel(1); err != nil {
			log.Fatal(err)
		}
	}
	up.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) {
		_ = c.WriteMessage(mt, data)
	})

	mux := http.NewServeMux()
	mux.HandleFunc(*path, func(w http.ResponseWriter, r *http.Request) {
		// The upgrader hands the connection to nbio's poller; nothing more to do here.
		_, _ = up.Upgrade(w, r, nil)
	})

	conf := nbhttp.Config{Network: "tcp", Handler: mux}
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			log.Fatal(err)
		}
		conf.AddrsTLS = []string{*addr}
		conf.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}}
	} else {
		conf.Addrs = []string{*addr}
	}
	engine := nbhttp.NewEngine(conf)
	if err := engine.Start(); err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	engine.Stop()
}
