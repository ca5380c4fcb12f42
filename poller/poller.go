package poller

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"
)

// Config sets up a Poller. Zero values pick the documented defaults.
type Config struct {
	// Loops is the number of event loops; 0 means GOMAXPROCS.
	Loops int
	// ReadBuffer is the size of each loop's shared read buffer; 0 means 64 KiB.
	ReadBuffer int
	// WriteQueue bounds the bytes queued for one connection; past it the
	// connection is closed as a slow consumer. 0 means unbounded.
	WriteQueue int
	// WriteTimeout closes a connection whose queued bytes could not be
	// written for this long. 0 disables it.
	WriteTimeout time.Duration
	// Tick is the resolution of the timer wheels; 0 means 100ms.
	Tick time.Duration
	// LingerTimeout bounds how long a half-closed connection waits for the
	// peer's FIN after its last bytes went out; 0 means 2s.
	LingerTimeout time.Duration
	// OverflowAnswer is written to a client accepted, with a descriptor
	// held in reserve, while the process has run out of descriptors; the
	// connection is closed right after. nil closes such clients without an
	// answer. OnOverflow, if set, runs (on a loop) for each such client.
	OverflowAnswer []byte
	OnOverflow     func()
	// AcceptError, if set, is told about every failed accept (other than
	// "nothing to accept"). It runs on a loop: it must not block.
	AcceptError func(err error)
}

// Handler receives a connection's events. Every method runs on the
// connection's loop goroutine, one at a time per loop, so it must never
// block: it queues writes (Conn.WriteMessage and friends) and returns.
type Handler interface {
	// OnOpen runs once for each accepted connection, before any read.
	OnOpen(c *Conn)
	// OnData runs with the connection's unconsumed bytes followed by the
	// bytes just read. It returns how many bytes it consumed; the loop keeps
	// the rest and presents them again, unchanged, before the next bytes. buf
	// must not be retained. A non-nil error closes the connection at once.
	OnData(c *Conn, buf []byte) (consumed int, err error)
	// OnTimer runs when the deadline set with Conn.SetTimer comes due.
	OnTimer(c *Conn, now int64)
	// OnClose runs once, after the socket is closed; err says why (nil for
	// an orderly close).
	OnClose(c *Conn, err error)
}

// Errors that end connections. Callers branch on them with errors.Is.
var (
	ErrClosed       = errors.New("connection closed")
	ErrSlowConsumer = errors.New("slow consumer: write queue bound exceeded")
	ErrWriteTimeout = errors.New("write timeout: queued data could not be written in time")
	ErrPeerClosed   = errors.New("peer closed the connection")
	ErrShutdown     = errors.New("server shutting down")
)

// Poller is a set of event loops serving one listening socket.
type Poller struct {
	cfg     Config
	h       Handler
	loops   []*loop
	lnFile  *os.File
	lnFd    int
	addr    net.Addr
	start   time.Time
	wg      sync.WaitGroup
	closeMu sync.Mutex
	stopped bool

	// conns maps a descriptor to its connection, for every loop: one slot
	// per possible descriptor (sized by the open-files limit at Listen), 8
	// bytes per descriptor whatever the number of loops. A loop writes only
	// the slots of its own connections.
	conns []atomic.Pointer[Conn]
	gens  atomic.Uint32 // last connection generation handed out

	acceptMu   sync.Mutex   // one accept at a time; guards reserveFd
	reserveFd  int          // a descriptor held back for answering overflow (-1: none)
	overflowed atomic.Int64 // clients answered with Overflow

	queues sync.Pool           // *outQueue, lent to connections with queued data
	bufs   bytebufferpool.Pool // owned output bytes
}

// Listen opens addr and prepares the loops; Serve starts them.
func Listen(addr string, cfg Config, h Handler) (*Poller, error) {
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.GOMAXPROCS(0)
	}
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = 64 << 10
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.LingerTimeout <= 0 {
		cfg.LingerTimeout = 2 * time.Second
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("poller: listen %s: %w", addr, err)
	}
	p := &Poller{cfg: cfg, h: h, addr: ln.Addr(), start: time.Now(), reserveFd: -1}
	p.conns = make([]atomic.Pointer[Conn], fdTableSize())
	p.queues.New = func() any { return new(outQueue) }
	// Take the socket out of the Go runtime's netpoller: File dups the
	// descriptor, and closing the listener leaves our dup the only one.
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		return nil, fmt.Errorf("poller: listener fd: %w", err)
	}
	p.lnFile = f
	p.lnFd = int(f.Fd())
	if err := unix.SetNonblock(p.lnFd, true); err != nil {
		f.Close()
		return nil, fmt.Errorf("poller: nonblock listener: %w", err)
	}
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(p, i)
		if err != nil {
			p.closeLoops()
			f.Close()
			return nil, err
		}
		p.loops = append(p.loops, l)
	}
	p.reserveFd = openReserve()
	return p, nil
}

// fdTableSize is the open-files limit, which bounds every descriptor number,
// within [1024, 1<<22] (the table costs RSS only for descriptors in use:
// its untouched pages stay untouched).
func fdTableSize() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 1 << 16
	}
	return int(min(max(lim.Cur, 1024), 1<<22))
}

// nextGen numbers a new connection (never 0, so a zeroed event matches none).
func (p *Poller) nextGen() uint32 {
	for {
		if g := p.gens.Add(1); g != 0 {
			return g
		}
	}
}

func (p *Poller) conn(fd int) *Conn {
	if fd < 0 || fd >= len(p.conns) {
		return nil
	}
	return p.conns[fd].Load()
}

// Addr is the address the Poller listens on.
func (p *Poller) Addr() net.Addr { return p.addr }

// Config returns the effective configuration (defaults filled in).
func (p *Poller) Config() Config { return p.cfg }

// Now is the monotonic clock the loops use for Conn timestamps, in nanoseconds.
func (p *Poller) Now() int64 { return int64(time.Since(p.start)) }

// Serve runs the loops until Stop. It returns at once; use Wait to block.
func (p *Poller) Serve() {
	for _, l := range p.loops {
		p.wg.Add(1)
		go func(l *loop) {
			defer p.wg.Done()
			l.run()
		}(l)
	}
}

// StopAccepting closes the listening socket; established connections live on.
func (p *Poller) StopAccepting() {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.lnFile == nil {
		return
	}
	for _, l := range p.loops {
		// Deregister explicitly: the descriptor is watched by every loop
		// (not found in a loop that paused accepting: fine).
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, p.lnFd, nil)
	}
	p.lnFile.Close()
	p.lnFile = nil
}

// Each runs fn for every open connection, on that connection's loop.
// It returns once fn has run everywhere.
func (p *Poller) Each(fn func(c *Conn)) {
	var wg sync.WaitGroup
	for _, l := range p.loops {
		wg.Add(1)
		l.post(task{kind: taskFunc, fn: func() {
			defer wg.Done()
			for i := range p.conns {
				if c := p.conns[i].Load(); c != nil && c.loop == l && !c.loopClosed {
					fn(c)
				}
			}
		}})
	}
	wg.Wait()
}

// Len is the number of open connections (a racy sum, for reporting).
func (p *Poller) Len() int {
	n := 0
	for _, l := range p.loops {
		n += int(l.count.Load())
	}
	return n
}

// Timers is the number of timer-wheel entries scheduled over all loops, for
// tests and reporting. Each loop counts its own wheel, so it returns once
// every loop has answered.
func (p *Poller) Timers() int {
	var n atomic.Int64
	var wg sync.WaitGroup
	for _, l := range p.loops {
		wg.Add(1)
		l.post(task{kind: taskFunc, fn: func() {
			defer wg.Done()
			n.Add(int64(l.wheel.Len()))
		}})
	}
	wg.Wait()
	return int(n.Load())
}

// Stop closes the listener and every connection, stops the loops and waits
// for them. OnClose runs for each connection with ErrShutdown.
func (p *Poller) Stop() {
	p.StopAccepting()
	p.closeMu.Lock()
	if p.stopped {
		p.closeMu.Unlock()
		p.wg.Wait()
		return
	}
	p.stopped = true
	p.closeMu.Unlock()
	for _, l := range p.loops {
		l.post(task{kind: taskStop})
	}
	p.wg.Wait()
	p.closeLoops()
}

func (p *Poller) closeLoops() {
	for _, l := range p.loops {
		l.closeFds()
	}
	p.acceptMu.Lock()
	if p.reserveFd >= 0 {
		unix.Close(p.reserveFd)
		p.reserveFd = -1
	}
	p.acceptMu.Unlock()
}

// Overflowed is the number of clients answered with Config.Overflow because
// the process was out of descriptors.
func (p *Poller) Overflowed() int64 { return p.overflowed.Load() }
