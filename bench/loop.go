//go:build linux

package bench

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/wsedge/wsedge/codec"
)

const (
	readBufSize = 256 << 10
	// scanEvery is how often a loop looks for handshakes past their timeout.
	scanEvery = 100 * time.Millisecond
)

// loop is one epoll loop and the connections it dialed. Everything but the
// atomics is owned by its goroutine.
type loop struct {
	e       *Engine
	epfd    int
	efd     int // eventfd: wakes the loop for control calls
	conns   []*conn
	pending []*conn // connecting, upgrading or closing: checked for timeouts
	rbuf    []byte
	events  []unix.EpollEvent
	now     int64
	scanAt  int64
	sendOn  bool

	inflight int
	lat, hs  *hdrhistogram.Histogram
	causes   Causes

	// TLS handshakes in goroutines (tls.go): how many, and those done.
	tlsBusy int
	tlsMu   sync.Mutex
	tlsDone []tlsResult
	hsWG    sync.WaitGroup

	want, pub atomic.Int64
	lastEnd   atomic.Int64 // engine clock when a churn cycle last ended
	dialed, opened, failed, dropped, closedN,
	acked, refused, sent, received, timed atomic.Int64
	recorded                                         atomic.Int64 // data messages received while recording
	compressed, rxWire, rxPayload, txWire, txPayload atomic.Int64

	inflater inflater // for compressed messages, one at a time
}

func newLoop(e *Engine, maxFD int) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(efd)
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	return &loop{
		e: e, epfd: epfd, efd: efd,
		conns:  make([]*conn, maxFD),
		rbuf:   make([]byte, readBufSize),
		events: make([]unix.EpollEvent, 512),
		lat:    NewHistogram(), hs: NewHistogram(),
		causes: Causes{},
	}, nil
}

var wakeBytes = []byte{1, 0, 0, 0, 0, 0, 0, 0}

func (l *loop) wake() { _, _ = unix.Write(l.efd, wakeBytes) }

func (l *loop) run() {
	defer l.e.wg.Done()
	defer l.shutdown()
	var drain [8]byte
	for !l.e.stop.Load() {
		timeout := 100
		if len(l.pending) > 0 || l.want.Load() > 0 || l.tlsBusy > 0 {
			timeout = 10
		}
		n, err := unix.EpollWait(l.epfd, l.events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.causes["epoll_wait: "+err.Error()]++
			return
		}
		l.now = l.e.now()
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			fd := int(ev.Fd)
			if fd == l.efd {
				_, _ = unix.Read(l.efd, drain[:])
				continue
			}
			if c := l.conns[fd]; c != nil {
				l.event(c, ev.Events)
			}
		}
		l.service()
	}
}

// service handles control requests and timeouts after each wakeup.
func (l *loop) service() {
	if l.tlsBusy > 0 {
		l.finishTLS()
	}
	for l.want.Load() > 0 && l.inflight < l.e.cfg.MaxInflight {
		l.want.Add(-1)
		l.dial()
	}
	if on := l.e.sending.Load(); on != l.sendOn {
		l.sendOn = on
		if on && l.e.cfg.Message != nil && l.e.cfg.Depth > 0 {
			l.eachOpen(func(c *conn) { l.send(c, l.e.cfg.Depth) })
		}
	}
	if k := l.pub.Swap(0); k > 0 && l.e.cfg.Message != nil {
		l.eachOpen(func(c *conn) { l.send(c, int(k)) })
	}
	if l.now-l.scanAt >= int64(scanEvery) {
		l.scanAt = l.now
		l.scan()
	}
}

func (l *loop) eachOpen(f func(*conn)) {
	for _, c := range l.conns {
		if c != nil && c.state == stOpen {
			f(c)
		}
	}
}

// scan fails connections stuck in connect, upgrade or close past the
// timeout, and closes churn connections still waiting for their acks.
func (l *loop) scan() {
	limit := int64(l.e.cfg.HandshakeTimeout)
	keep := l.pending[:0]
	for _, c := range l.pending {
		if c.fd < 0 || (c.state == stOpen && !(l.e.cfg.Churn && c.acks > 0)) {
			continue
		}
		if l.now-c.t0 < limit || c.state == stTLS { // a handshake times out by itself
			keep = append(keep, c)
			continue
		}
		switch c.state {
		case stConnecting:
			l.fail(c, "connect timeout")
		case stUpgrading:
			l.fail(c, "upgrade timeout")
		case stClosing:
			l.finish(c, "close timeout")
		case stOpen:
			l.causes["no reply to the open messages"]++
			c.state, c.t0 = stClosing, l.now
			c.out = codec.AppendClientClose(c.out, clientMask, codec.CloseNormal, "")
			if l.flush(c) {
				keep = append(keep, c)
			}
		}
	}
	clear(l.pending[len(keep):])
	l.pending = keep
}

// dial starts one non-blocking connect from the next source address.
func (l *loop) dial() {
	e := l.e
	l.dialed.Add(1)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.failNoConn("socket: " + err.Error())
		return
	}
	if fd >= len(l.conns) {
		unix.Close(fd)
		l.failNoConn("socket: descriptor beyond RLIMIT_NOFILE")
		return
	}
	if e.cfg.Sources > 0 {
		// Choose the port at connect time, per 4-tuple, not at bind time.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		k := byte(2 + e.srcSeq.Add(1)%uint64(e.cfg.Sources))
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, k}}); err != nil {
			unix.Close(fd)
			l.failNoConn("bind: " + err.Error())
			return
		}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	sa := &unix.SockaddrInet4{Port: int(e.cfg.Target.Addr.Port()), Addr: e.cfg.Target.Addr.Addr().As4()}
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		l.failNoConn("connect: " + err.Error())
		return
	}
	c := &conn{l: l, fd: fd, state: stConnecting, t0: l.e.now(), id: int32(e.seq.Add(1) - 1)}
	c.dec.Reset(&clientCodec)
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLRDHUP, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		l.failNoConn("epoll_ctl: " + err.Error())
		return
	}
	l.conns[fd] = c
	l.inflight++
	l.pending = append(l.pending, c)
}

func (l *loop) failNoConn(cause string) {
	l.failed.Add(1)
	l.causes[cause]++
	l.churnNext()
}

// churnNext redials after a churn cycle ended, while the budget lasts, and
// notes when the cycle ended (the churn rate counts up to the last one).
func (l *loop) churnNext() {
	if !l.e.cfg.Churn {
		return
	}
	l.lastEnd.Store(l.e.now())
	if l.e.churn.Add(-1) >= 0 {
		l.want.Add(1)
	}
}

func (l *loop) setEvents(c *conn, events uint32) {
	ev := unix.EpollEvent{Events: events, Fd: int32(c.fd)}
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev)
}

// shutdown closes every connection with a reset (SO_LINGER 0): no FIN
// exchange and no TIME_WAIT on either side, so teardown of many thousand
// connections is quick and leaves no ports behind.
func (l *loop) shutdown() {
	// Handshake goroutines still use their sockets: wake them (their reads
	// and polls end) and wait, so no descriptor is closed under them.
	for fd, c := range l.conns {
		if c != nil && c.state == stTLS {
			_ = unix.Shutdown(fd, unix.SHUT_RDWR)
		}
	}
	l.hsWG.Wait()
	lin := &unix.Linger{Onoff: 1, Linger: 0}
	for fd, c := range l.conns {
		if c == nil {
			continue
		}
		_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, lin)
		unix.Close(fd)
		c.fd = -1
		l.conns[fd] = nil
	}
	unix.Close(l.epfd)
	unix.Close(l.efd)
}
