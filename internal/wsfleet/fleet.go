//go:build linux

// Package wsfleet is a test client: many WebSocket connections driven by one
// epoll loop, with no goroutine per connection (the race detector allows
// 8,128 goroutines, and a test process must stay cheap next to the server it
// measures). It records what a user of each connection would notice: its
// local port (the same TCP connection, or a new one), the numbered channel
// messages it got (in order, each once), and its close (code and time).
//
// It speaks just enough RFC 6455 for that: masked text frames out
// (subscribe), unfragmented server frames in, pongs to pings, the client's
// side of the close handshake.
package wsfleet

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Config describes a fleet.
type Config struct {
	Addr      string // host:port of the server (an IPv4 literal)
	Path      string // request path, e.g. "/ws"
	Conns     int
	Subscribe string        // a channel every connection subscribes to after the upgrade; "" none
	Timeout   time.Duration // Dial's bound for every connection to be open (and subscribed); 0: 60s
	InFlight  int           // connects and upgrades in progress at once; 0: 200
}

// Conn is one connection's state, as Snapshot reports it.
type Conn struct {
	LocalPort int
	Received  int // channel messages ({"type":"message",...,"data":N})
	Last      int // N of the last one; -1 before the first
	Errors    int // messages out of order or twice
	Replies   int // other text messages (acks, replies)
	CloseCode int // 0 while open; the server's close code; 1006 for an end without a close frame
	ClosedAt  time.Time
	Cause     string // why it ended, when not by a close frame
}

// Fleet is a running set of connections.
type Fleet struct {
	cfg    Config
	addr   netip.AddrPort
	epfd   int
	efd    int
	mu     sync.Mutex // guards conns' public state against Snapshot
	conns  []*conn
	byFD   map[int]*conn
	ready  int // open (and acked) connections
	failed error
	quit   chan struct{}
	done   chan struct{}
	buf    []byte
}

type phase uint8

const (
	connecting phase = iota
	upgrading
	subscribing
	open
	ended
)

type conn struct {
	Conn
	fd    int
	phase phase
	in    []byte // unparsed input
}

// Dial opens the connections and returns once every one is open (and
// subscribed), or with an error when one fails or the timeout passes.
func Dial(cfg Config) (*Fleet, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 200
	}
	addr, err := netip.ParseAddrPort(cfg.Addr)
	if err != nil || !addr.Addr().Is4() {
		return nil, fmt.Errorf("wsfleet: %q is not an IPv4 address and port", cfg.Addr)
	}
	f := &Fleet{cfg: cfg, addr: addr, byFD: map[int]*conn{}, quit: make(chan struct{}), done: make(chan struct{}),
		buf: make([]byte, 256<<10)}
	if f.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if f.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		unix.Close(f.epfd)
		return nil, err
	}
	unix.EpollCtl(f.epfd, unix.EPOLL_CTL_ADD, f.efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(f.efd)})
	f.conns = make([]*conn, cfg.Conns)
	for i := range f.conns {
		f.conns[i] = &conn{fd: -1, Conn: Conn{Last: -1}}
	}
	go f.run()
	deadline := time.Now().Add(cfg.Timeout)
	for {
		f.mu.Lock()
		ready, failed := f.ready, f.failed
		f.mu.Unlock()
		switch {
		case failed != nil:
			f.Close()
			return nil, failed
		case ready == cfg.Conns:
			return f, nil
		case time.Now().After(deadline):
			f.Close()
			return nil, fmt.Errorf("wsfleet: %d of %d connections open after %v", ready, cfg.Conns, cfg.Timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Snapshot returns every connection's state, in dial order.
func (f *Fleet) Snapshot() []Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Conn, len(f.conns))
	for i, c := range f.conns {
		out[i] = c.Conn
	}
	return out
}

// WaitClosed waits until every connection has ended, at most d, and
// returns the snapshot then.
func (f *Fleet) WaitClosed(d time.Duration) []Conn {
	deadline := time.Now().Add(d)
	for {
		s := f.Snapshot()
		open := 0
		for _, c := range s {
			if c.CloseCode == 0 {
				open++
			}
		}
		if open == 0 || time.Now().After(deadline) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close ends the loop and closes every socket (without a close frame).
func (f *Fleet) Close() {
	select {
	case <-f.quit:
	default:
		close(f.quit)
		one := [8]byte{1}
		unix.Write(f.efd, one[:])
	}
	<-f.done
}

func (f *Fleet) run() {
	defer close(f.done)
	defer func() {
		for fd := range f.byFD {
			unix.Close(fd)
		}
		unix.Close(f.epfd)
		unix.Close(f.efd)
	}()
	next, inflight := 0, 0
	events := make([]unix.EpollEvent, 256)
	for {
		for next < len(f.conns) && inflight < f.cfg.InFlight {
			if err := f.connect(f.conns[next]); err != nil {
				f.fail(fmt.Errorf("wsfleet: connect %d: %w", next, err))
				return
			}
			next++
			inflight++
		}
		n, err := unix.EpollWait(f.epfd, events, 100)
		if err != nil && err != unix.EINTR {
			f.fail(fmt.Errorf("wsfleet: epoll_wait: %w", err))
			return
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == f.efd {
				return // Close
			}
			c := f.byFD[fd]
			if c == nil {
				continue
			}
			before := c.phase
			f.mu.Lock()
			f.event(c, events[i].Events)
			if before < open && c.phase >= open {
				inflight--
			}
			f.mu.Unlock()
		}
		select {
		case <-f.quit:
			return
		default:
		}
	}
}

func (f *Fleet) fail(err error) {
	f.mu.Lock()
	if f.failed == nil {
		f.failed = err
	}
	f.mu.Unlock()
}

func (f *Fleet) connect(c *conn) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	sa := &unix.SockaddrInet4{Port: int(f.addr.Port()), Addr: f.addr.Addr().As4()}
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return err
	}
	c.fd = fd
	f.byFD[fd] = c
	return unix.EpollCtl(f.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)})
}

// event handles readiness of c. f.mu held.
func (f *Fleet) event(c *conn, ev uint32) {
	if c.phase == connecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if e, _ := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR); e != 0 {
			f.failed = fmt.Errorf("wsfleet: connect: %w", unix.Errno(e))
			f.end(c, 1006, "connect failed")
			return
		}
		if sa, err := unix.Getsockname(c.fd); err == nil {
			c.LocalPort = sa.(*unix.SockaddrInet4).Port
		}
		req := "GET " + f.cfg.Path + " HTTP/1.1\r\nHost: " + f.cfg.Addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
		if !f.write(c, []byte(req)) {
			return
		}
		c.phase = upgrading
		unix.EpollCtl(f.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)})
		return
	}
	for {
		n, err := unix.Read(c.fd, f.buf)
		if err == unix.EAGAIN || err == unix.EINTR {
			return
		}
		if err != nil || n == 0 {
			cause := "server closed TCP without a close frame"
			if err != nil {
				cause = err.Error()
			}
			f.end(c, 1006, cause)
			return
		}
		c.in = append(c.in, f.buf[:n]...)
		f.parse(c)
		if c.phase == ended {
			return
		}
	}
}

// write writes b whole (small writes on a socket with room), or ends c.
func (f *Fleet) write(c *conn, b []byte) bool {
	n, err := unix.Write(c.fd, b)
	if err != nil || n != len(b) {
		f.end(c, 1006, fmt.Sprintf("write: %d of %d bytes, %v", n, len(b), err))
		return false
	}
	return true
}

// opened counts c open, once: here rather than after the event, since
// one event may take a connection past open to ended (a server that answers
// and closes at once). f.mu held.
func (f *Fleet) opened(c *conn) {
	c.phase = open
	f.ready++
}

// end closes c's socket and records how it ended. f.mu held.
func (f *Fleet) end(c *conn, code int, cause string) {
	if c.phase == ended {
		return
	}
	if c.phase < open && f.failed == nil {
		f.failed = fmt.Errorf("wsfleet: connection ended before it was open: %s", cause)
	}
	c.phase = ended
	c.CloseCode, c.ClosedAt = code, time.Now()
	if code == 1006 {
		c.Cause = cause
	}
	delete(f.byFD, c.fd)
	unix.Close(c.fd)
	c.in = nil
}

// parse consumes what c has received. f.mu held.
func (f *Fleet) parse(c *conn) {
	if c.phase == upgrading {
		i := indexCRLF2(c.in)
		if i < 0 {
			return
		}
		if !hasPrefix(c.in, "HTTP/1.1 101 ") {
			f.end(c, 1006, "upgrade refused: "+string(c.in[:min(len(c.in), 80)]))
			return
		}
		c.in = c.in[i+4:]
		if f.cfg.Subscribe == "" {
			f.opened(c)
		} else {
			c.phase = subscribing
			if !f.write(c, maskedFrame(0x1, []byte(`{"type":"subscribe","channel":"`+f.cfg.Subscribe+`","id":"s"}`))) {
				return
			}
		}
	}
	for c.phase != ended {
		op, payload, size := frame(c.in)
		if size == 0 {
			break
		}
		f.frame(c, op, payload)
		if c.phase != ended {
			c.in = c.in[size:]
		}
	}
	if c.phase != ended && len(c.in) == 0 {
		c.in = c.in[:0:0] // no buffer kept while idle
	}
}

// frame handles one complete server frame. f.mu held.
func (f *Fleet) frame(c *conn, op byte, p []byte) {
	switch op {
	case 0x1:
		if n, ok := channelNumber(p); ok {
			if n != c.Last+1 {
				c.Errors++
			}
			c.Last = max(c.Last, n)
			c.Received++
			return
		}
		c.Replies++
		if c.phase == subscribing {
			if string(p) != `{"type":"ack","id":"s"}` {
				f.end(c, 1006, "subscribe answered "+string(p))
				return
			}
			f.opened(c)
		}
	case 0x9:
		f.write(c, maskedFrame(0xA, p))
	case 0x8:
		code := 1005
		if len(p) >= 2 {
			code = int(p[0])<<8 | int(p[1])
		}
		f.write(c, maskedFrame(0x8, p[:min(len(p), 2)]))
		f.end(c, code, "")
	}
}

// maskedFrame is a final client frame of op with payload p (< 64 KiB).
func maskedFrame(op byte, p []byte) []byte {
	b := []byte{0x80 | op}
	if len(p) < 126 {
		b = append(b, 0x80|byte(len(p)))
	} else {
		b = append(b, 0x80|126, byte(len(p)>>8), byte(len(p)))
	}
	key := rand.Uint32()
	k := [4]byte{byte(key), byte(key >> 8), byte(key >> 16), byte(key >> 24)}
	b = append(b, k[:]...)
	for i, x := range p {
		b = append(b, x^k[i&3])
	}
	return b
}
