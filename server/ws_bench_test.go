package server

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/wsedge/wsedge/codec"
)

// benchServer runs a server in this process with the production logger setup (JSON at info
// level, written nowhere), so the Logging middleware costs what it costs in production; the
// tests' zaptest logger logs every message at debug level and would dominate.
func benchServer(b *testing.B) *Server {
	b.Helper()
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel)
	s, err := New(testOptions(), zap.New(core), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

// BenchmarkWSPingRoundTrip is one /ws message through the whole server and back: socket read,
// frame decode, Dispatch, worker, JSON decode, route, middleware, reply, writev. The raw client
// allocates nothing, but the server runs in this process, so allocs/op counts both ends.
func BenchmarkWSPingRoundTrip(b *testing.B) {
	s := benchServer(b)
	r := dialRaw(b, s, "/ws")
	req := codec.AppendClientFrame(nil, codec.OpText, true, [4]byte{1, 2, 3, 4}, []byte(`{"type":"ping","id":"1"}`))
	want := wsFrameTo(`{"type":"pong","id":"1"}`)
	resp := make([]byte, len(want))
	_ = r.conn.SetDeadline(time.Time{})
	roundTrips(b, r, req, resp, 1)
	if !bytes.Equal(resp, want) {
		b.Fatalf("reply %q, want %q", resp, want)
	}
}

// BenchmarkWSPingPipelined keeps 64 pings in flight on one connection, so the loop reads many
// frames per wakeup and a worker answers a batch with one writev: the per-message cost without
// the round-trip latency.
func BenchmarkWSPingPipelined(b *testing.B) {
	const depth = 64
	s := benchServer(b)
	r := dialRaw(b, s, "/ws")
	var batch []byte
	for i := 0; i < depth; i++ {
		batch = codec.AppendClientFrame(batch, codec.OpText, true, [4]byte{1, 2, 3, 4}, []byte(`{"type":"ping","id":"1"}`))
	}
	want := bytes.Repeat(wsFrameTo(`{"type":"pong","id":"1"}`), depth)
	resp := make([]byte, len(want))
	_ = r.conn.SetDeadline(time.Time{})
	roundTrips(b, r, batch, resp, depth)
	if !bytes.Equal(resp, want) {
		b.Fatalf("replies differ from %d pongs", depth)
	}
}

// BenchmarkPublishFanout1000 publishes to 1,000 subscribers of an in-process server over
// loopback; one op is one publish acknowledged and read by every subscriber. The subscribers
// are bare sockets read by a few goroutines, each owning a slice of them; the publisher runs at
// most a few publishes ahead of the slowest reader, so no write queue grows. The metric
// deliveries/s counts messages received by subscribers.
func BenchmarkPublishFanout1000(b *testing.B) {
	const subs, readers, ahead = 1000, 4, 4
	s := benchServer(b)
	addr := s.Addr().String()
	conns := make([]net.Conn, subs)
	for i := range conns {
		c, err := rawSubscribe(addr, "bench", strconv.Itoa(i))
		if err != nil {
			b.Fatalf("subscriber %d: %v", i, err)
		}
		conns[i] = c
		b.Cleanup(func() { c.Close() })
	}
	pub := dialRaw(b, s, "/ws")
	_ = pub.conn.SetDeadline(time.Time{})
	req := codec.AppendClientFrame(nil, codec.OpText, true, [4]byte{1, 2, 3, 4}, []byte(`{"type":"publish","id":"p","channel":"bench","data":{"seq":1,"text":"hello"}}`))
	ack := wsFrameTo(`{"type":"ack","id":"p"}`)
	msg := wsFrameTo(`{"type":"message","channel":"bench","data":{"seq":1,"text":"hello"}}`)
	ackBuf := make([]byte, len(ack))

	credits := make([]chan struct{}, readers)
	failed := make(chan error, readers)
	done := make(chan struct{}, readers)
	for k := range readers {
		credits[k] = make(chan struct{}, ahead)
		for range ahead {
			credits[k] <- struct{}{}
		}
		mine := conns[k*subs/readers : (k+1)*subs/readers]
		go func() {
			buf := make([]byte, len(msg))
			for round := 0; round < b.N; round++ {
				for i, c := range mine {
					_ = c.SetReadDeadline(time.Now().Add(wsTimeout))
					if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, msg) {
						failed <- fmt.Errorf("round %d, subscriber %d: %q %v", round, k*subs/readers+i, buf, err)
						return
					}
				}
				credits[k] <- struct{}{}
			}
			done <- struct{}{}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for k := range readers {
			select {
			case <-credits[k]:
			case err := <-failed:
				b.Fatal(err)
			}
		}
		if _, err := pub.conn.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(pub.br, ackBuf); err != nil || !bytes.Equal(ackBuf, ack) {
			b.Fatalf("ack %q: %v", ackBuf, err)
		}
	}
	for range readers {
		select {
		case <-done:
		case err := <-failed:
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)*subs/elapsed.Seconds(), "deliveries/s")
}
