package poller

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"
)

// Config sets up a Poller. Zero values pick the documented defaults.
type Config struct {
	// Backend is "epoll" (Linux only, the default there) or "std" (the
	// standard library's net.Conn, a goroutine or two per connection: the
	// default elsewhere); "" picks the default.
	Backend string
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
	// PauseAtStart leaves the listener unwatched until ResumeAccepting (a
	// process taking over another's listener; epoll only).
	PauseAtStart bool
}

// Handler receives a connection's events. Every method runs on the
// connection's loop goroutine, one at a time per loop, so it must never
// block: it queues writes and returns.
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

// Accept back-off after the process ran out of descriptors (or another
// accept error that will not go away at once): the listener is left alone
// for a while, doubling while accepts keep failing, instead of being retried
// in a busy loop.
const (
	minAcceptBackoff = 10 * time.Millisecond
	maxAcceptBackoff = 320 * time.Millisecond
)

// driver is what a backend does for the loops: the rest (connections, write
// queues, tasks, timers, the handler's guarantees) is common to both.
type driver interface {
	run(l *loop)                  // the loop goroutine
	wake(l *loop)                 // a task was posted
	write(c *Conn) error          // c.mu held: hand the queue to the socket
	writeRound(c *Conn) error     // loop, after a Handler callback: the same (uring: at the round's end)
	direct() bool                 // Send2 may write at once on the loop (epoll)
	shutdownWrite(c *Conn)        // loop: half-close after the last bytes
	closeSocket(c *Conn)          // loop: close the socket and forget it
	each(l *loop, fn func(*Conn)) // loop: every open connection of l
	stopAccepting()
	close() // after the loops ended
}

// Poller is a set of event loops serving one listening socket.
type Poller struct {
	cfg       Config
	h         Handler
	lay       layout // allocates connections with the handler's state (state.go)
	d         driver
	loops     []*loop
	addr      net.Addr
	start     time.Time
	wg        sync.WaitGroup
	closeMu   sync.Mutex
	stopped   bool
	acceptOff bool // PauseAccepting; closeMu held

	sink    ExportSink    // handover: where writes to exported connections go
	adopted atomic.Uint32 // handover: round robin of adopted connections over the loops

	overflowed atomic.Int64 // clients answered with OverflowAnswer

	queues sync.Pool           // *outQueue, lent to connections with queued data
	bufs   bytebufferpool.Pool // owned output bytes
}

// Backends lists the backends this build offers, the default first.
func Backends() []string { return backends }

// Listen opens addr and prepares the loops; Serve starts them. Its
// connections carry no state of the handler's: see ListenFor.
func Listen(addr string, cfg Config, h Handler) (*Poller, error) {
	return ListenFor[struct{}](addr, cfg, h)
}

// ListenFor is Listen for a handler that keeps a T for each connection
// (NewFor).
func ListenFor[T any](addr string, cfg Config, h Handler) (*Poller, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("poller: listen %s: %w", addr, err)
	}
	return NewFor[T](ln, cfg, h)
}

// New serves an open listener (a TCP listener, for instance one inherited
// from a previous process); the Poller owns it from then on. Its connections
// carry no state of the handler's: see NewFor.
func New(ln net.Listener, cfg Config, h Handler) (*Poller, error) {
	return NewFor[struct{}](ln, cfg, h)
}

// NewFor is New for a handler that keeps a T for each connection: each
// connection is allocated with a zero T after it, reached with State[T]
// (and back with ConnOf), so the two are one object and hold no pointer to
// each other.
func NewFor[T any](ln net.Listener, cfg Config, h Handler) (*Poller, error) {
	return newPoller(ln, cfg, h, layoutOf[T]{})
}

func newPoller(ln net.Listener, cfg Config, h Handler, lay layout) (*Poller, error) {
	if cfg.Backend == "" {
		cfg.Backend = backends[0]
	}
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
	p := &Poller{cfg: cfg, h: h, lay: lay, addr: ln.Addr(), start: time.Now()}
	p.queues.New = func() any { return new(outQueue) }
	for i := 0; i < cfg.Loops; i++ {
		p.loops = append(p.loops, newLoop(p, i))
	}
	var err error
	switch cfg.Backend {
	case "epoll":
		p.d, err = newEpoll(p, ln)
	case "std":
		p.d = newStd(p, ln)
	case "uring":
		p.d, err = newUringDriver(p, ln)
	default:
		err = fmt.Errorf("poller: unknown backend %q (this build has %v)", cfg.Backend, backends)
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	if cfg.PauseAtStart {
		if err := p.PauseAccepting(); err != nil {
			p.d.stopAccepting()
			p.d.close()
			return nil, err
		}
	}
	return p, nil
}

// Addr is the address the Poller listens on.
func (p *Poller) Addr() net.Addr { return p.addr }

// Config returns the effective configuration (defaults filled in).
func (p *Poller) Config() Config { return p.cfg }

// Now is the monotonic clock the loops use for Conn timestamps, in nanoseconds.
func (p *Poller) Now() int64 { return int64(time.Since(p.start)) }

// Serve starts the loops; they run until Stop. It returns at once.
func (p *Poller) Serve() {
	for _, l := range p.loops {
		p.wg.Add(1)
		go func(l *loop) {
			defer p.wg.Done()
			p.d.run(l)
		}(l)
	}
}

// StopAccepting closes the listening socket; established connections live on.
func (p *Poller) StopAccepting() {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	p.d.stopAccepting()
}

// Each runs fn for every open connection except those detached for a
// handover (exported or parked), on that connection's loop: so on every loop
// at once, and fn must be safe for that. It returns once fn has run
// everywhere.
func (p *Poller) Each(fn func(c *Conn)) {
	var wg sync.WaitGroup
	for _, l := range p.loops {
		wg.Add(1)
		l.post(task{kind: taskFunc, fn: func() {
			defer wg.Done()
			p.d.each(l, func(c *Conn) {
				if !c.loopClosed && !c.Detached() {
					fn(c)
				}
			})
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

// Overflowed is the number of clients answered with Config.OverflowAnswer
// because the process was out of descriptors.
func (p *Poller) Overflowed() int64 { return p.overflowed.Load() }

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
	p.d.close()
}

// acceptFailed reports an accept error to Config.AcceptError.
func (p *Poller) acceptFailed(err error) {
	if p.cfg.AcceptError != nil {
		p.cfg.AcceptError(fmt.Errorf("poller: accept: %w", err))
	}
}
