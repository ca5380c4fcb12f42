package routing

import (
	"runtime"
	"sync"
	"testing"

	"github.com/panjf2000/ants/v2"
	"github.com/valyala/bytebufferpool"
)

func runtimeGosched() { runtime.Gosched() }

// benchAnts does what BenchmarkScheduler/runqueue does with an ants.PoolWithFunc of 8 workers
// invoked per message. Invoke blocks the caller when every worker is busy, which the event loop
// must never do; the per-session order would still need the mailbox in front.
func benchAnts(b *testing.B) {
	var wg sync.WaitGroup
	var bufs bytebufferpool.Pool
	pool, err := ants.NewPoolWithFunc(8, func(arg any) {
		buf := arg.(*bytebufferpool.ByteBuffer)
		var m Message
		_ = m.Decode(buf.B)
		bufs.Put(buf)
		wg.Done()
	})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Release()
	p := []byte(`{"type":"t"}`)
	b.ReportAllocs()
	wg.Add(b.N)
	b.ResetTimer()
	for range b.N {
		buf := bufs.Get()
		buf.B = append(buf.B, p...)
		if err := pool.Invoke(buf); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
}
