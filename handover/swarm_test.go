package handover

// The client side of the process tests: thousands of line-protocol clients
// on one epoll loop in one goroutine (the race detector allows 8,128
// goroutines). Each checks what a user would notice: every echo answered
// once and in order by a server that kept its per-connection count and
// sees the same connection (its peer port is our local port), every
// broadcast, cluster message and timer tick exactly once and in order,
// big replies intact, and never an error or a close.

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type swarmClient struct {
	idx        int
	fd         int
	port       int
	sub, slow  bool
	in         []byte
	pending    []byte // bytes to send (the rest of a split line)
	sentE      uint64
	gotE       uint64
	gotB, gotN uint64
	gotT       uint64
	gotS       bool
	bigSent    uint64
	bigGot     uint64
	pids       []int // distinct server pids seen in echoes, in order
	err        string
}

func (c *swarmClient) fail(format string, args ...any) {
	if c.err == "" {
		c.err = fmt.Sprintf("client %d (port %d): %s", c.idx, c.port, fmt.Sprintf(format, args...))
	}
}

type swarm struct {
	epfd  int
	cl    []*swarmClient
	byFD  map[int]*swarmClient
	cmds  chan func()
	quit  chan struct{}
	done  chan struct{}
	pubOn bool
	pubK  uint64 // last broadcast the publisher (client 0) sent
	tickN int
	buf   []byte
	quiet bool // no new requests: only what is pending goes out
	drain bool // slow readers read at full speed
}

// newSwarm connects n clients to addr; if subscribe, every fourth
// subscribes (from the start: streams are checked from their first
// number); every 50th reads slowly and asks for big replies (fewer past
// 2,000 clients).
func newSwarm(t testing.TB, addr string, n int, subscribe bool) *swarm {
	t.Helper()
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	w := &swarm{epfd: epfd, byFD: map[int]*swarmClient{}, cmds: make(chan func(), 16),
		quit: make(chan struct{}), done: make(chan struct{}), buf: make([]byte, 64<<10)}
	host, portS, _ := bytes.Cut([]byte(addr), []byte{':'})
	_ = host
	port, _ := strconv.Atoi(string(portS))
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}); err != nil {
			t.Fatalf("client %d: connect: %v", i, err)
		}
		unix.SetNonblock(fd, true)
		sa, _ := unix.Getsockname(fd)
		// About 400 subscribers and 40 slow readers at most: the load
		// stays what one test process can read, whatever n.
		subEvery, slowEvery := max(4, n/400), max(50, n/40)
		c := &swarmClient{idx: i, fd: fd, port: sa.(*unix.SockaddrInet4).Port, sub: subscribe && i%subEvery == 0, slow: i%slowEvery == 7}
		if c.slow {
			// A small receive buffer, so big replies queue in the server.
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<10)
		}
		if c.sub {
			c.pending = []byte("s\n")
		}
		w.cl = append(w.cl, c)
		w.byFD[fd] = c
		unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)})
	}
	go w.run()
	t.Cleanup(w.close)
	return w
}

func (w *swarm) close() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
		<-w.done
		for _, c := range w.cl {
			unix.Close(c.fd)
		}
		unix.Close(w.epfd)
	}
}

// do runs fn on the swarm's goroutine and waits.
func (w *swarm) do(fn func()) {
	ch := make(chan struct{})
	w.cmds <- func() { fn(); close(ch) }
	<-ch
}

func (w *swarm) run() {
	defer close(w.done)
	events := make([]unix.EpollEvent, 512)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.quit:
			return
		case fn := <-w.cmds:
			fn()
		case <-tick.C:
			w.tick()
		default:
		}
		n, _ := unix.EpollWait(w.epfd, events, 5)
		for _, ev := range events[:max(n, 0)] {
			if c := w.byFD[int(ev.Fd)]; c != nil {
				w.read(c)
			}
		}
	}
}

func (w *swarm) tick() {
	w.tickN++
	for _, c := range w.cl {
		if c.err != "" {
			continue
		}
		if len(c.pending) == 0 && !w.quiet && (w.tickN+c.idx)%16 == 0 {
			c.sentE++
			line := fmt.Appendf(nil, "e %d\n", c.sentE)
			if (int(c.sentE)+c.idx)%3 == 0 {
				// Half now, half on the next tick: a partial line the
				// server holds as state.
				w.send(c, line[:len(line)/2])
				c.pending = line[len(line)/2:]
				continue
			}
			c.pending = line
		}
		if c.slow && !w.quiet && (w.tickN+c.idx)%80 == 0 {
			c.bigSent++
			c.pending = fmt.Appendf(c.pending, "big %d\n", c.bigSent)
		}
		if c.idx == 0 && w.pubOn && w.tickN%2 == 0 {
			w.pubK++ // 20 broadcasts a second
			c.pending = fmt.Appendf(c.pending, "p %d\n", w.pubK)
		}
		if len(c.pending) > 0 {
			w.send(c, c.pending)
			c.pending = nil
		}
	}
}

func (w *swarm) send(c *swarmClient, b []byte) {
	n, err := unix.Write(c.fd, b)
	if err != nil || n != len(b) {
		c.fail("write: %d of %d bytes, %v", n, len(b), err)
	}
}

func (w *swarm) read(c *swarmClient) {
	limit := 1 << 30
	if c.slow && !w.drain {
		limit = 16 << 10 // a slow reader: about 600 KB/s
	}
	for got := 0; got < limit; {
		n, err := unix.Read(c.fd, w.buf[:min(len(w.buf), limit-got)])
		if err == unix.EAGAIN {
			break
		}
		if n <= 0 {
			c.fail("connection ended: read %d, %v", n, err)
			w.remove(c)
			return
		}
		got += n
		c.in = append(c.in, w.buf[:n]...)
		w.lines(c)
	}
}

func (w *swarm) remove(c *swarmClient) {
	unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	delete(w.byFD, c.fd)
}

func (w *swarm) lines(c *swarmClient) {
	for {
		i := bytes.IndexByte(c.in, '\n')
		if i < 0 {
			break
		}
		w.line(c, c.in[:i])
		c.in = c.in[i+1:]
	}
	c.in = append([]byte(nil), c.in...)
}

func (w *swarm) line(c *swarmClient, l []byte) {
	f := bytes.Fields(l)
	if len(f) == 0 {
		c.fail("empty line")
		return
	}
	num := func(i int) uint64 {
		if i >= len(f) {
			c.fail("short line %q", l)
			return 0
		}
		v, err := strconv.ParseUint(string(f[i]), 10, 64)
		if err != nil {
			c.fail("bad number in %.60q", l)
		}
		return v
	}
	next := func(what string, last *uint64, v uint64) {
		if v != *last+1 {
			c.fail("%s %d after %d (lost or duplicated)", what, v, *last)
		}
		*last = v
	}
	switch string(f[0]) {
	case "S":
		c.gotS = true
	case "E":
		n, count, pid, port := num(1), num(2), int(num(3)), int(num(4))
		next("echo", &c.gotE, n)
		if count != n {
			c.fail("echo %d counted %d by the server: connection state lost", n, count)
		}
		if port != c.port {
			c.fail("the server sees peer port %d, we are %d: not the same connection", port, c.port)
		}
		if len(c.pids) == 0 || c.pids[len(c.pids)-1] != pid {
			c.pids = append(c.pids, pid)
		}
	case "B":
		next("broadcast", &c.gotB, num(1))
	case "N":
		next("cluster message", &c.gotN, num(1))
	case "T":
		next("timer tick", &c.gotT, num(1))
	case "L":
		next("big reply", &c.bigGot, num(1))
		if n := num(2); n != bigLen || len(f) != 4 || len(f[3]) != bigLen || bytes.Count(f[3], []byte{'x'}) != bigLen {
			c.fail("big reply %d damaged (%d bytes)", c.bigGot, len(l))
		}
	default:
		c.fail("unexpected line %.60q", l)
	}
}

// settled reports whether every client has everything it asked for and
// every broadcast and cluster message up to the given numbers.
func (w *swarm) settled(lastN uint64) (bool, string) {
	for _, c := range w.cl {
		switch {
		case c.err != "":
			return true, "" // report() shows it
		case len(c.pending) > 0 || c.gotE != c.sentE:
			return false, fmt.Sprintf("client %d: echo %d of %d (pending %q, unparsed %.80q, tick %d)", c.idx, c.gotE, c.sentE, c.pending, c.in, w.tickN)
		case c.bigGot != c.bigSent:
			return false, fmt.Sprintf("client %d: big %d of %d", c.idx, c.bigGot, c.bigSent)
		case c.sub && (c.gotB != w.pubK || c.gotN != lastN):
			return false, fmt.Sprintf("client %d: broadcast %d of %d, cluster %d of %d", c.idx, c.gotB, w.pubK, c.gotN, lastN)
		}
	}
	return true, ""
}

// report returns the clients' errors (at most 10) and the count.
func (w *swarm) report() (errs []string, n int) {
	for _, c := range w.cl {
		if c.err != "" {
			n++
			if len(errs) < 10 {
				errs = append(errs, c.err)
			}
		}
	}
	return errs, n
}
