package tlsconn

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/wsedge/wsedge/poller"
)

// BenchmarkEcho: one line through the TLS layer and back, per record
// layer, over loopback: Feed (open), the upper layer, Write2 (seal into the
// queue), flush. The client is crypto/tls in the same process, so allocs/op
// counts both ends; compare the layers with each other.
//
//	go test -run '^$' -bench Echo -benchmem ./tlsconn/
func BenchmarkEcho(b *testing.B) {
	for _, layer := range []Layer{Compact, Stdlib} {
		for _, size := range []int{64, 4096} {
			b.Run(layer.String()+"/"+byteSize(size), func(b *testing.B) {
				s, addr, pool := startLineServer(b, layer, poller.Backends()[0])
				c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				line := append(bytes.Repeat([]byte("a"), size-1), '\n')
				want := append(bytes.Repeat([]byte("A"), size-1), '\n')
				r := bufio.NewReaderSize(c, 2*size)
				got := make([]byte, size)
				// Warm up: the handshake's garbage, pools, crypto/tls's
				// record size boost.
				for i := 0; i < 100; i++ {
					c.Write(line)
					if _, err := io.ReadFull(r, got); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.Write(line); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, want) {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				s.mu.Lock()
				compact := s.compact[0]
				s.mu.Unlock()
				if compact != (layer == Compact) {
					b.Fatalf("compact layer in use: %v", compact)
				}
			})
		}
	}
}

func byteSize(n int) string {
	if n >= 1024 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// BenchmarkHandshake: a full TLS 1.3 handshake (crypto/tls client in the
// same process, no session cache) and one line echoed, per record layer:
// what the compact layer adds to a handshake (its config clone, the secrets
// through the key log, counting crypto/tls's ticket records, the switch).
//
//	go test -run '^$' -bench Handshake -benchmem ./tlsconn/
func BenchmarkHandshake(b *testing.B) {
	for _, layer := range []Layer{Compact, Stdlib} {
		b.Run(layer.String(), func(b *testing.B) {
			s, addr, pool := startLineServer(b, layer, poller.Backends()[0])
			cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
			buf := make([]byte, 2)
			b.ReportAllocs()
			for b.Loop() {
				c, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Write([]byte("x\n")); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "X\n" {
					b.Fatal(err)
				}
				c.Close()
			}
			b.StopTimer()
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, compact := range s.compact {
				if compact != (layer == Compact) {
					b.Fatalf("a session on the compact layer: %v", compact)
				}
			}
		})
	}
}
