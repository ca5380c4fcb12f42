package poller

import (
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// recordHandler counts OnData calls per connection.
type recordHandler struct {
	lineHandler
	data atomic.Int64
}

func (h *recordHandler) OnData(c *Conn, buf []byte) (int, error) {
	h.data.Add(1)
	return len(buf), nil
}

// TestStaleEventIgnored drives two loops by hand: loop A's connection is
// closed, loop B accepts a connection that gets the same descriptor, and an
// event for A's old connection, still in A's batch, is then handled. It
// must not read B's connection.
func TestStaleEventIgnored(t *testing.T) {
	h := &recordHandler{}
	p, err := Listen("127.0.0.1:0", Config{Backend: "epoll", Loops: 2}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop() // never served: Stop only closes
	e := p.d.(*epoll)
	a, b := p.loops[0], p.loops[1]
	// Every descriptor below the one A's accept gets is in use at that
	// moment (the kernel hands out the lowest free one), and the client end
	// of the second connection is opened before A closes, so B's accept
	// gets exactly the number A freed.
	c1 := dial(t, p)
	now := p.Now()
	e.accept(a, now)
	var first *Conn
	for i := range e.conns {
		if c := e.conns[i].Load(); c != nil {
			first = c
		}
	}
	if first == nil {
		t.Fatal("loop A accepted nothing")
	}
	c3 := dial(t, p)
	fd, gen := first.fd, first.gen()
	a.closeConn(first, nil)
	e.accept(b, now)
	third := e.conn(int(fd))
	if third == nil || third.loop != b || third.gen() == gen {
		t.Fatalf("descriptor %d after B's accept: %+v (old generation %d)", fd, third, gen)
	}
	c3.Write([]byte("for B"))
	c1.Write([]byte("for A, too late"))
	time.Sleep(20 * time.Millisecond)
	stale := unix.EpollEvent{Events: unix.EPOLLIN, Fd: fd, Pad: int32(gen)}
	e.event(a, &stale, now)
	if n := h.data.Load(); n != 0 {
		t.Fatalf("a stale event on loop A read loop B's connection (%d OnData calls)", n)
	}
	fresh := unix.EpollEvent{Events: unix.EPOLLIN, Fd: fd, Pad: int32(third.gen())}
	e.event(b, &fresh, now)
	if n := h.data.Load(); n != 1 {
		t.Fatalf("the current event: %d OnData calls, want 1", n)
	}
}
