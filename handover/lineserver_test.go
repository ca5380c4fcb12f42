package handover

// A line server on raw epoll: the stand-in for poller + server in the
// process tests. One loop goroutine owns every connection; other goroutines
// post tasks. Client lines:
//
//	s        subscribe to broadcasts            -> "S"
//	e N      echo                               -> "E N <count> <pid> <peer port>"
//	p K      publish K to subscribers (locally, and to NATS t.b)  -> "B K" to each
//	big N    a 256 KiB line                      -> "L N <len> xxx…"
//
// NATS t.n messages (origin, seq, "K") reach subscribers as "N K". Every
// connection gets "T <i>" every tick from its own timer.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sys/unix"
)

const bigLen = 256 << 10

type lsConn struct {
	id      uint64
	fd      int
	port    int // the peer's port, as this process sees it
	in      []byte
	out     []byte // queued output
	count   uint64 // echoes answered
	sub     bool
	ticks   uint64
	next    time.Time     // next tick
	moved   bool          // old process: paused and handed over (output is teed)
	parked  bool          // successor: adopted, not served before COMMIT
	rem     time.Duration // successor: time to the next tick, while parked
	pollOut bool
}

type lineServer struct {
	gen, pid  int
	epfd      int
	lnfd      int
	lnAddr    string
	evfd      int
	accepting bool
	conns     map[uint64]*lsConn
	byFD      map[int]*lsConn
	dirty     map[*lsConn]struct{}
	nextID    uint64
	tasks     chan func()
	tick      time.Duration
	lastScan  time.Time
	buf       []byte
	stdout    *os.File

	nc        *nats.Conn
	origin    uint64
	pubSeq    uint64
	self      []uint64
	natsIn    chan *nats.Msg
	tx        *Transfer // old process, during a handover
	relayNATS bool      // old process, after COMMIT
	sw        *Switch   // successor, until the switch ends
}

func newLineServer(gen int, tick time.Duration) (*lineServer, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	s := &lineServer{
		gen: gen, pid: os.Getpid(), epfd: epfd, evfd: evfd, lnfd: -1,
		conns: map[uint64]*lsConn{}, byFD: map[int]*lsConn{}, dirty: map[*lsConn]struct{}{},
		tasks: make(chan func(), 1<<16), tick: tick, buf: make([]byte, 64<<10), stdout: os.Stdout,
		origin: uint64(os.Getpid())<<16 | uint64(gen), natsIn: make(chan *nats.Msg, 1<<16),
	}
	s.self = []uint64{s.origin}
	err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)})
	return s, err
}

// say writes one event line for the test process.
func (s *lineServer) say(format string, args ...any) {
	fmt.Fprintf(s.stdout, "%d %s\n", s.pid, fmt.Sprintf(format, args...))
}

// post runs fn on the loop.
func (s *lineServer) post(fn func()) {
	s.tasks <- fn
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(s.evfd, one[:])
}

// do runs fn on the loop and waits for it.
func (s *lineServer) do(fn func()) {
	done := make(chan struct{})
	s.post(func() { fn(); close(done) })
	<-done
}

func (s *lineServer) listen() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	if err := unix.Listen(fd, 4096); err != nil {
		return err
	}
	sa, _ := unix.Getsockname(fd)
	s.lnAddr = fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	s.lnfd = fd
	return s.startAccepting()
}

func (s *lineServer) startAccepting() error {
	s.accepting = true
	return unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, s.lnfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(s.lnfd)})
}

func (s *lineServer) stopAccepting() {
	s.accepting = false
	unix.EpollCtl(s.epfd, unix.EPOLL_CTL_DEL, s.lnfd, nil)
}

// run is the loop.
func (s *lineServer) run() {
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(s.epfd, events, 5)
		if err != nil && err != unix.EINTR {
			panic(err)
		}
		for _, ev := range events[:max(n, 0)] {
			fd := int(ev.Fd)
			switch {
			case fd == s.evfd:
				var b [8]byte
				unix.Read(s.evfd, b[:])
			case fd == s.lnfd:
				s.accept()
			default:
				if c := s.byFD[fd]; c != nil {
					s.onEvent(c, ev.Events)
				}
			}
		}
		s.runTasks()
		s.timers()
		for c := range s.dirty {
			s.flush(c)
		}
		clear(s.dirty)
	}
}

func (s *lineServer) runTasks() {
	for {
		select {
		case fn := <-s.tasks:
			fn()
		default:
			return
		}
	}
}

func (s *lineServer) accept() {
	for s.accepting {
		fd, sa, err := unix.Accept4(s.lnfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return
		}
		s.nextID++
		c := &lsConn{id: uint64(s.pid)<<32 | s.nextID, fd: fd, port: sa.(*unix.SockaddrInet4).Port, next: time.Now().Add(s.tick)}
		s.conns[c.id], s.byFD[fd] = c, c
		unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
	}
}

func (s *lineServer) onEvent(c *lsConn, ev uint32) {
	if ev&unix.EPOLLOUT != 0 {
		s.dirty[c] = struct{}{}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
		return
	}
	for i := 0; i < 4 && !c.moved; i++ {
		n, err := unix.Read(c.fd, s.buf)
		if err == unix.EAGAIN {
			return
		}
		if n <= 0 {
			s.say("CLOSED %d %v", c.port, err) // the test treats any close as a failure
			s.drop(c)
			return
		}
		c.in = append(c.in, s.buf[:n]...)
		s.lines(c)
	}
}

func (s *lineServer) drop(c *lsConn) {
	unix.EpollCtl(s.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	delete(s.conns, c.id)
	delete(s.byFD, c.fd)
	delete(s.dirty, c)
}

func (s *lineServer) lines(c *lsConn) {
	for {
		i := bytes.IndexByte(c.in, '\n')
		if i < 0 {
			break
		}
		s.line(c, c.in[:i])
		c.in = c.in[i+1:]
	}
	if len(c.in) == 0 {
		c.in = nil
	} else {
		c.in = append([]byte(nil), c.in...)
	}
}

func (s *lineServer) line(c *lsConn, l []byte) {
	cmd, arg, _ := bytes.Cut(l, []byte{' '})
	switch string(cmd) {
	case "s":
		c.sub = true
		s.write(c, []byte("S\n"))
	case "e":
		c.count++
		s.write(c, fmt.Appendf(nil, "E %s %d %d %d\n", arg, c.count, s.pid, c.port))
	case "p":
		k, _ := strconv.ParseUint(string(arg), 10, 64)
		s.broadcast(fmt.Appendf(nil, "B %d\n", k))
		if s.nc != nil {
			s.pubSeq++
			s.nc.Publish("t.b", append(clusterMsg(s.origin, s.pubSeq), arg...))
		}
	case "big":
		b := fmt.Appendf(nil, "L %s %d ", arg, bigLen)
		b = append(b, bytes.Repeat([]byte{'x'}, bigLen)...)
		s.write(c, append(b, '\n'))
	}
}

// write queues b for c; for a moved connection it also goes to the
// successor (the local copy is for an abort).
func (s *lineServer) write(c *lsConn, b []byte) {
	c.out = append(c.out, b...)
	if c.moved {
		s.tx.Write(c.id, b)
		return
	}
	s.dirty[c] = struct{}{}
}

// broadcast queues one shared frame to every subscriber.
func (s *lineServer) broadcast(frame []byte) {
	for _, c := range s.conns {
		if !c.sub {
			continue
		}
		c.out = append(c.out, frame...)
		if c.moved {
			s.tx.WriteShared(c.id, frame)
		} else {
			s.dirty[c] = struct{}{}
		}
	}
}

func (s *lineServer) timers() {
	now := time.Now()
	if now.Sub(s.lastScan) < 10*time.Millisecond {
		return // a scan is O(connections): not on every wake-up
	}
	s.lastScan = now
	for _, c := range s.conns {
		if c.moved || c.parked || now.Before(c.next) {
			continue
		}
		c.ticks++
		c.next = c.next.Add(s.tick)
		if c.next.Before(now) {
			c.next = now.Add(s.tick)
		}
		s.write(c, fmt.Appendf(nil, "T %d\n", c.ticks))
	}
}

func (s *lineServer) flush(c *lsConn) {
	if c.moved || c.parked || s.byFD[c.fd] != c {
		return
	}
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			s.say("CLOSED %d write: %v", c.port, err)
			s.drop(c)
			return
		}
		c.out = c.out[n:]
	}
	if len(c.out) == 0 {
		c.out = nil
	}
	want := len(c.out) > 0
	if want != c.pollOut {
		c.pollOut = want
		ev := uint32(unix.EPOLLIN)
		if want {
			ev |= unix.EPOLLOUT
		}
		unix.EpollCtl(s.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: ev, Fd: int32(c.fd)})
	}
}

// subscribeNATS subscribes t.n and t.b through a channel (so that, after a
// drain, everything nats.go delivered is known to have been handled) and
// feeds the loop.
func (s *lineServer) subscribeNATS() error {
	for _, subj := range []string{"t.n", "t.b"} {
		if _, err := s.nc.ChanSubscribe(subj, s.natsIn); err != nil {
			return err
		}
	}
	return s.nc.Flush()
}

// pumpNATS hands received messages to the loop until natsIn is drained
// after the connection closed; done is closed then.
func (s *lineServer) pumpNATS(closed <-chan struct{}, done chan<- struct{}) {
	for {
		select {
		case m := <-s.natsIn:
			s.post(func() { s.onNATS(m) })
		case <-closed:
			for {
				select {
				case m := <-s.natsIn:
					s.post(func() { s.onNATS(m) })
				default:
					s.do(func() {}) // everything posted has run
					close(done)
					return
				}
			}
		}
	}
}

// onNATS runs on the loop.
func (s *lineServer) onNATS(msg *nats.Msg) {
	m := parseClusterMsg(msg.Subject, msg.Data)
	m.Payload = msg.Data[16:]
	for _, o := range s.self {
		if o == m.Origin {
			return // published by this process or the other one of a handover
		}
	}
	switch {
	case s.relayNATS:
		s.tx.Relay(m)
	case s.sw != nil:
		s.sw.Own(m, s.deliver)
	default:
		s.deliver(m)
	}
}

// deliver writes a cluster message to the subscribers.
func (s *lineServer) deliver(m Message) {
	tag := "N"
	if string(m.Channel) == "t.b" {
		tag = "X" // a foreign node's local publish: the tests never send one
	}
	s.broadcast(fmt.Appendf(nil, "%s %s\n", tag, m.Payload))
}
