package poller

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// benchSendConn is an epoll connection on one end of a Unix socket pair;
// drain empties the other end. The benchmark drains it itself every few
// answers (no goroutine to schedule), so an op is the loop's write path
// plus a share of the reads, the same for every variant.
func benchSendConn(b *testing.B) (c *Conn, drain func()) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	p := &Poller{cfg: Config{Tick: time.Millisecond}, start: time.Now()}
	p.queues.New = func() any { return new(outQueue) }
	p.d = &epoll{p: p}
	l := &loop{p: p}
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		b.Fatal(err)
	}
	c = &Conn{loop: l, fd: int32(fds[0])}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fds[0], c.event(unix.EPOLLIN)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		unix.Close(fds[0])
		unix.Close(fds[1])
		unix.Close(l.epfd)
	})
	buf := make([]byte, 1<<20)
	return c, func() {
		for {
			if n, _ := unix.Read(fds[1], buf); n <= 0 {
				return
			}
		}
	}
}

// threadCPU is the user and system time of the calling thread, in ns: on
// a shared machine they hold up better than wall time, and they split the
// write path's own work from the kernel's.
func threadCPU() (user, sys int64) {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return 0, 0
	}
	return ru.Utime.Nano(), ru.Stime.Nano()
}

// BenchmarkAnswer: one op is a loop's answer to what it read, a frame
// header and a payload, handed to the socket: queued with Write2 and
// flushed at the end of the callback (the path before Send2), or written at
// once with Send2. The write system call is in both; the difference is the
// queue (pooled buffer and queue, copy, bookkeeping).
func BenchmarkAnswer(b *testing.B) {
	hdr := []byte{0x82, 64}
	for _, size := range []int{64, 4096} {
		payload := pattern(size)
		for _, v := range []struct {
			name  string
			write func(c *Conn) error
		}{
			{"Write2+flush", func(c *Conn) error { return c.Write2(hdr, payload) }},
			{"Send2", func(c *Conn) error { return c.Send2(hdr, payload) }},
		} {
			b.Run(fmt.Sprintf("%s/%dB", v.name, size), func(b *testing.B) {
				// One thread throughout, so its clock is the whole op's.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				c, drain := benchSendConn(b)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				i := 0
				u0, s0 := threadCPU()
				for b.Loop() {
					if err := v.write(c); err != nil {
						b.Fatal(err)
					}
					c.flushRound()
					if i++; i%16 == 0 {
						drain()
					}
				}
				u1, s1 := threadCPU()
				b.ReportMetric(float64(u1-u0)/float64(b.N), "user-ns/op")
				b.ReportMetric(float64(s1-s0)/float64(b.N), "sys-ns/op")
				if c.q != nil || c.closed {
					b.Fatal("the socket did not take every answer")
				}
			})
		}
	}
}
