package poller

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// std is the portable backend: the standard library's net.Conn, with a
// reader goroutine per connection and a writer goroutine while something is
// queued. It keeps every promise the epoll backend makes to the handler:
// each connection belongs to one loop, whose goroutine alone runs its
// callbacks (the reader hands its bytes over and waits until the loop has
// taken them), timers come from the loop's wheel, and writes go through the
// same bounded queue. It is the default where epoll is not available, and
// -poller std selects it on Linux.
type std struct {
	p        *Poller
	ln       net.Listener
	start    sync.Once
	stopOnce sync.Once
	next     atomic.Uint32 // round-robin loop choice
}

// stdConn is a connection's socket and its reader's hand-over. It follows
// the Conn and the handler's state in their allocation (state.go), so epoll
// connections carry no pointer for it.
type stdConn struct {
	nc    net.Conn
	taken chan struct{} // the loop has taken the last read: read again
	gone  chan struct{} // closed with the connection
}

func newStd(p *Poller, ln net.Listener) *std {
	for _, l := range p.loops {
		l.wakeCh = make(chan struct{}, 1)
		l.conns = make(map[*Conn]struct{})
	}
	return &std{p: p, ln: ln}
}

func (s *std) run(l *loop) {
	s.start.Do(func() { go s.accept() })
	t := time.NewTicker(s.p.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-l.wakeCh:
			if l.runTasks() {
				return
			}
		case <-t.C:
			l.wheel.Advance(s.p.Now(), l.fire)
		}
	}
}

func (s *std) wake(l *loop) {
	select {
	case l.wakeCh <- struct{}{}:
	default:
	}
}

// accept hands new connections to the loops in turn, backing off while
// accepting fails (out of descriptors).
func (s *std) accept() {
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.p.acceptFailed(err)
			backoff = min(max(2*backoff, minAcceptBackoff), maxAcceptBackoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		l := s.p.loops[int(s.next.Add(1))%len(s.p.loops)]
		c := s.p.lay.newStd()
		c.loop, c.fd = l, -1
		*c.std() = stdConn{nc: nc, taken: make(chan struct{}, 1), gone: make(chan struct{})}
		if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
			c.setRemote(a.AddrPort())
		}
		l.post(task{kind: taskOpen, c: c})
	}
}

// stdOpen adopts a new connection on its loop. Loop only.
func (l *loop) stdOpen(c *Conn) {
	c.lastRead = StampOf(l.p.Now())
	l.conns[c] = struct{}{}
	l.opened(c)
	if !c.loopClosed {
		go stdRead(c, stdReadBuffer)
	}
}

// stdReadBuffer is each reader's own buffer: small, since every connection
// has one; bigger input collects in the connection's buffer as on epoll.
const stdReadBuffer = 4 << 10

// stdRead is a connection's reader: it hands each read to the loop and
// waits until the loop has taken it before reading again.
func stdRead(c *Conn, size int) {
	buf := make([]byte, size)
	for {
		n, err := c.std().nc.Read(buf)
		c.loop.post(task{kind: taskRead, c: c, b: buf[:n], err: err})
		if err != nil {
			return
		}
		select {
		case <-c.std().taken:
		case <-c.std().gone:
			return
		}
	}
}

// stdRead takes a read on the loop. Loop only.
func (l *loop) stdRead(c *Conn, b []byte, err error) {
	defer func() {
		select {
		case c.std().taken <- struct{}{}:
		default:
		}
	}()
	switch {
	case c.loopClosed:
	case c.lingering:
		if err != nil { // the peer's FIN (or an error): done
			l.closeConn(c, nil)
		}
	case errors.Is(err, io.EOF):
		l.closeConn(c, ErrPeerClosed)
	case err != nil:
		l.closeConn(c, fmt.Errorf("poller: read: %w", err))
	default:
		l.feed(c, b, l.p.Now())
	}
}

// tryWrite bounds the wait of a write made on the flusher's goroutine: net.Conn
// has no non-blocking write, but a deadline this close makes one that takes
// what the kernel has room for and returns, as writev does for epoll.
const tryWrite = 50 * time.Microsecond

// write writes what the socket takes at once, like the epoll backend, and
// leaves the rest to the connection's writer goroutine. c.mu held.
func (s *std) write(c *Conn) error {
	if c.armed {
		return nil // the writer runs and will see the new bytes
	}
	bufs := make(net.Buffers, 0, len(c.q.segs))
	for i := range c.q.segs {
		bufs = append(bufs, c.q.segs[i].data())
	}
	_ = c.std().nc.SetWriteDeadline(time.Now().Add(tryWrite))
	n, err := bufs.WriteTo(c.std().nc)
	c.consume(int(n))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.armed = true
		go s.writer(c)
		return nil
	}
	c.closed = true
	c.releaseQueue()
	return fmt.Errorf("poller: write: %w", err)
}

func (s *std) writeRound(c *Conn) error { return s.write(c) }

// direct: writes belong to the connection's writer goroutine.
func (s *std) direct() bool { return false }

// writer writes the queue until it is empty; the bytes stay queued (and
// count against -write-queue) until written.
func (s *std) writer(c *Conn) {
	var bufs net.Buffers
	for {
		c.mu.Lock()
		if c.closed || c.q == nil {
			c.armed = false
			if !c.closed && c.closeAfter {
				c.requestLocked(taskEnd, nil)
			}
			c.mu.Unlock()
			return
		}
		bufs = bufs[:0]
		for i := range c.q.segs {
			bufs = append(bufs, c.q.segs[i].data())
		}
		c.mu.Unlock()
		deadline := time.Time{}
		if wt := s.p.cfg.WriteTimeout; wt > 0 {
			deadline = time.Now().Add(wt)
		}
		_ = c.std().nc.SetWriteDeadline(deadline)
		out := bufs // WriteTo consumes its receiver
		n, err := out.WriteTo(c.std().nc)
		c.mu.Lock()
		if c.closed { // the queue was dropped meanwhile, buffers and all
			c.armed = false
			c.mu.Unlock()
			return
		}
		c.consume(int(n))
		if err != nil {
			c.armed = false
			c.closed = true
			c.releaseQueue()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = ErrWriteTimeout
			} else {
				err = fmt.Errorf("poller: write: %w", err)
			}
			c.requestLocked(taskClose, err)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

func (s *std) shutdownWrite(c *Conn) {
	if tc, ok := c.std().nc.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		return
	}
	_ = c.std().nc.Close()
}

func (s *std) closeSocket(c *Conn) {
	delete(c.loop.conns, c)
	close(c.std().gone)
	_ = c.std().nc.Close()
}

func (s *std) each(l *loop, fn func(*Conn)) {
	for c := range l.conns {
		fn(c)
	}
}

func (s *std) stopAccepting() {
	s.stopOnce.Do(func() { s.ln.Close() })
}

func (s *std) close() {}
