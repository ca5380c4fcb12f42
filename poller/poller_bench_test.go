package poller

import (
	"fmt"
	"testing"
	"time"

	"github.com/wsedge/wsedge/timerwheel"
)

// rearmHandler re-arms each connection far ahead from OnTimer, like a
// heartbeat after it sent its ping.
type rearmHandler struct{ ahead int64 }

func (h *rearmHandler) OnOpen(*Conn)                          {}
func (h *rearmHandler) OnData(_ *Conn, b []byte) (int, error) { return len(b), nil }
func (h *rearmHandler) OnTimer(c *Conn, now int64)            { c.SetTimer(now + h.ahead) }
func (h *rearmHandler) OnClose(*Conn, error)                  {}

// benchLoop is a loop without sockets: enough for the timer path (schedule,
// fire, the write-timeout check, the empty flush), which never touches a
// descriptor while a connection has nothing queued.
func benchLoop(conns int, writeTimeout time.Duration) (*loop, []*Conn) {
	p := &Poller{
		cfg:   Config{Tick: time.Millisecond, WriteTimeout: writeTimeout},
		h:     &rearmHandler{ahead: int64(time.Hour)},
		start: time.Now(),
	}
	l := &loop{p: p, wheel: timerwheel.New[uint32](p.cfg.Tick, p.Now())}
	cs := make([]*Conn, conns)
	for i := range cs {
		c := &Conn{loop: l, fd: -1}
		// An idle population spread over 30s an hour ahead: it stays
		// scheduled (and never fires) while the benchmark runs.
		c.SetTimer(p.Now() + int64(time.Hour) + int64(i)*int64(30*time.Second)/int64(conns))
		cs[i] = c
	}
	return l, cs
}

// BenchmarkTimerFire: one op is a connection whose deadline comes due, fires
// through loop.fire into the Handler's OnTimer, and is re-armed, among an
// idle population of scheduled connections.
func BenchmarkTimerFire(b *testing.B) {
	for _, pop := range []int{1000, 100000} {
		for _, wt := range []time.Duration{0, 10 * time.Second} {
			b.Run(fmt.Sprintf("conns=%d/writeTimeout=%v", pop, wt), func(b *testing.B) {
				l, cs := benchLoop(pop, wt)
				const batch = 256
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += batch {
					n := min(batch, b.N-i)
					for j := 0; j < n; j++ {
						cs[(i+j)%len(cs)].SetTimer(1) // already due
					}
					if fired := l.wheel.Advance(l.p.Now(), l.fire); fired < n {
						b.Fatalf("fired %d of %d", fired, n)
					}
				}
			})
		}
	}
}

// BenchmarkTimerRearm: one op moves a scheduled connection's single wheel
// entry to a new deadline (what every pong or read-timeout start costs).
func BenchmarkTimerRearm(b *testing.B) {
	for _, pop := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("conns=%d", pop), func(b *testing.B) {
			_, cs := benchLoop(pop, 10*time.Second)
			now := cs[0].loop.p.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cs[i%len(cs)].SetTimer(now + int64(time.Second) + int64(i%30000)*int64(time.Millisecond))
			}
		})
	}
}
