package server

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// BenchmarkHandshake measures accept + upgrade + close of one connection,
// both ends in this process (allocs/op count both).
func BenchmarkHandshake(b *testing.B) {
	s := startServer(b, testOptions())
	addr := s.Addr().String()
	req := upgradeRequest("/echo", "")
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
		c.Close()
	}
}
