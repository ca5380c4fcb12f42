package routing

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/codec"
)

// benchRouter is the server's configuration with logging off (a disabled zap logger still pays
// the Logging middleware's level check).
func benchRouter(b *testing.B, opts Options) *Router {
	r := New(opts)
	b.Cleanup(r.Close)
	r.Use(DefaultMiddleware(zap.NewNop())...)
	RegisterBuiltins(r)
	return r
}

var routeInputs = []struct{ name, msg string }{
	{"ping", `{"type":"ping","id":"42"}`},
	{"echo", `{"type":"echo","id":"req-1","data":{"user":"ada","tags":["a","b","c"],"n":12.5}}`},
}

// BenchmarkHandle is decode + route + middleware + handler + reply on one worker's Context,
// without the hand-off to the pool.
func BenchmarkHandle(b *testing.B) {
	for _, in := range routeInputs {
		b.Run(in.name, func(b *testing.B) {
			r := benchRouter(b, Options{Workers: 1})
			f := &fakeConn{discard: true}
			c := &Context{r: r, sess: r.Open(f)}
			p := []byte(in.msg)
			b.ReportAllocs()
			for b.Loop() {
				r.handle(c, p)
			}
			if f.writes == 0 {
				b.Fatal("no replies")
			}
		})
	}
}

// countingConn counts replies with an atomic so the benchmark can wait for them.
type countingConn struct {
	fakeConn
	n *atomic.Int64
}

func (c *countingConn) Send(p []byte) error {
	c.n.Add(1)
	return nil
}

// BenchmarkDispatch is the whole path from the event loop: Dispatch (copy into the mailbox,
// schedule) on one goroutine, workers decoding, routing, replying and flushing, 64 connections.
func BenchmarkDispatch(b *testing.B) {
	for _, in := range routeInputs {
		b.Run(in.name, func(b *testing.B) {
			r := benchRouter(b, Options{Workers: 8})
			var done atomic.Int64
			ss := make([]*Session, 64)
			for i := range ss {
				ss[i] = r.Open(&countingConn{fakeConn: fakeConn{discard: true}, n: &done})
			}
			p := []byte(in.msg)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for r.Queued() > 4096 { // stay below the default queue bound, like a loaded server
					runtime.Gosched()
				}
				r.Dispatch(ss[i%len(ss)], codec.OpText, p)
			}
			for done.Load() < int64(b.N) {
				runtime.Gosched()
			}
		})
	}
}

// BenchmarkFanOut publishes to N local subscribers: one message built and framed, N
// SendPrepared+FlushSoon.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := benchRouter(b, Options{Workers: 1})
			for range n {
				s := r.Open(&fakeConn{discard: true})
				if err := r.Hub().Subscribe(s, []byte("fan")); err != nil {
					b.Fatal(err)
				}
			}
			pub := &fakeConn{discard: true}
			c := &Context{r: r, sess: r.Open(pub)}
			p := []byte(`{"type":"publish","channel":"fan","data":{"price":101.5,"sym":"ABC"}}`)
			b.ReportAllocs()
			for b.Loop() {
				r.handle(c, p)
			}
			deliveries := float64(b.N) * float64(n)
			b.ReportMetric(deliveries/b.Elapsed().Seconds(), "deliveries/s")
			b.ReportMetric(float64(testing.AllocsPerRun(1, func() { r.handle(c, p) }))/float64(n), "allocs/delivery")
		})
	}
}
