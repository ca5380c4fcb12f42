package server

import (
	"io"
	"testing"

	"github.com/wsedge/wsedge/codec"
)

// BenchmarkEchoRoundTrip measures one message through the whole server
// (socket read, decode, /echo, write queue, writev) and back, over loopback
// with a raw client that allocates nothing per message.
func BenchmarkEchoRoundTrip(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(sizeName(size), func(b *testing.B) {
			s := startServer(b, testOptions())
			r := dialRaw(b, s, "/echo")
			payload := make([]byte, size)
			req := codec.AppendClientFrame(nil, codec.OpBinary, true, [4]byte{1, 2, 3, 4}, payload)
			resp := make([]byte, codec.FrameSize(size))
			b.SetBytes(int64(size))
			roundTrips(b, r, req, resp, 1)
		})
	}
}

// BenchmarkEchoPipelined keeps 64 messages in flight, so the server reads
// several frames per wakeup and answers them with one writev.
func BenchmarkEchoPipelined(b *testing.B) {
	const depth = 64
	s := startServer(b, testOptions())
	r := dialRaw(b, s, "/echo")
	payload := make([]byte, 64)
	var batch []byte
	for i := 0; i < depth; i++ {
		batch = codec.AppendClientFrame(batch, codec.OpBinary, true, [4]byte{1, 2, 3, 4}, payload)
	}
	resp := make([]byte, depth*codec.FrameSize(len(payload)))
	b.SetBytes(int64(len(payload)))
	roundTrips(b, r, batch, resp, depth)
}

// roundTrips is the timed loop of the wire benchmarks: write req (holding
// perOp messages), read exactly len(resp) bytes back, b.N messages in all.
// The raw client allocates nothing, so allocs/op are the server's.
func roundTrips(b *testing.B, r *rawClient, req, resp []byte, perOp int) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += perOp {
		if _, err := r.conn.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r.br, resp); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

func sizeName(n int) string {
	if n >= 1024 {
		return itoa(n/1024) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
