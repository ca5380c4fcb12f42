package server

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	webui "github.com/wsedge/wsedge/client"
)

// BenchmarkHandshake measures accept + upgrade + close of one connection,
// both ends in this process (allocs/op count both).
func BenchmarkHandshake(b *testing.B) {
	s := startServer(b, testOptions())
	benchUpgrades(b, s.Addr().String(), upgradeRequest("/echo", ""))
}

// BenchmarkHandshakeToken is BenchmarkHandshake on /ws with an HS256 token
// in Authorization: the token check's garbage (auth pool job, its context,
// golang-jwt's parse) shows in B/op and allocs/op.
//
//	go test -run '^$' -bench HandshakeToken -benchmem ./server
func BenchmarkHandshakeToken(b *testing.B) {
	o := testOptions()
	o.JWTHMACSecret = idSecret
	s := startServer(b, o)
	benchUpgrades(b, s.Addr().String(), upgradeRequest("/ws", bearer(userToken(b, "user1234"))))
}

// benchUpgrades connects b.N times, sends req, requires the 101 answer and
// closes.
func benchUpgrades(b *testing.B, addr, req string) {
	var buf [512]byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		io.WriteString(c, req)
		n := 0
		for !strings.Contains(string(buf[:n]), "\r\n\r\n") {
			m, err := c.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += m
		}
		if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 101") {
			b.Fatalf("refused: %q", buf[:n])
		}
		c.Close()
	}
}

// BenchmarkStatic measures a file of the main port's site asked for on one
// kept-alive connection, as a browser revalidates it (304) and as it loads
// it (200, the 27 KB library); both ends in this process, the client side
// allocating nothing, so allocs/op are the server's.
func BenchmarkStatic(b *testing.B) {
	s := startServer(b, testOptions())
	lib, _, _ := webui.Asset("/wsedge.js")
	for _, bc := range []struct {
		name, req string
		body      int
	}{
		{"304", "GET /wsedge.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + webui.ETag("/wsedge.js") + "\r\n\r\n", 0},
		{"200", "GET /wsedge.js HTTP/1.1\r\nHost: x\r\n\r\n", len(lib)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := rawDial(b, s)
			req := []byte(bc.req)
			buf := make([]byte, 64<<10)
			b.ReportAllocs()
			b.SetBytes(int64(bc.body))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				n, head := 0, -1
				for head < 0 || n < head+bc.body {
					m, err := c.Read(buf[n:])
					if err != nil {
						b.Fatal(err)
					}
					n += m
					if head < 0 {
						if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
							head = i + 4
						}
					}
				}
			}
		})
	}
}
