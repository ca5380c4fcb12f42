package poller

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// Handing connections to another process (the restart without reconnects,
// docs/design.md): the old process pauses accepting, detaches each
// connection from its loop (Export) with what the poller holds for it, and
// after the other process took over releases its copy (Release), or on an
// abort serves it on (Resume). The new process adopts each descriptor with
// that state, parked (Adopt), and starts them all at once (StartAdopted) or
// drops them on an abort (DropAdopted). Only the epoll backend can do this.

// ErrNoHandover: the backend cannot hand connections over (std).
var ErrNoHandover = errors.New("poller: only the epoll backend can hand connections over")

// Detached is what the poller holds for a connection taken off its loop:
// everything but the handler's own state.
type Detached struct {
	FD     int // the socket
	Remote netip.AddrPort
	Input  []byte        // unconsumed input (a partial frame or request), as the handler left it
	Output []byte        // queued output not written yet, the unwritten rest of a partly written segment first
	Timer  time.Duration // until the deadline set with SetTimer (at least 1ns if due); 0: none
	Idle   time.Duration // since the last read (LastRead's age)
}

// WriteFlags describe a write to an exported connection.
type WriteFlags uint8

const (
	// WriteShared: the bytes are a frame shared by many connections,
	// immutable; the sink may keep them.
	WriteShared WriteFlags = 1 << iota
	// WriteFinal: the connection's last bytes (WriteFinal): later writes fail.
	WriteFinal
)

// ExportSink receives what happens to exported connections after their
// export, in order, under the connection's write lock: it must queue and
// return, never call back into the connection.
type ExportSink interface {
	// Write: b was queued for c (also kept locally, for Resume). Unless
	// flags has WriteShared, b is valid only during the call.
	Write(c *Conn, b []byte, flags WriteFlags)
	// CloseAfterFlush: c is to end once its output is written.
	CloseAfterFlush(c *Conn, waitPeer bool)
}

// The detach states of a Conn (Conn.detach, guarded by mu).
const (
	attached uint8 = iota
	exported       // old process: off its loop, output teed to the sink
	parked         // new process: adopted, not polled until StartAdopted
)

// detacher is what a backend does for a handover.
type detacher interface {
	detach(c *Conn) error // loop: stop polling c
	attach(c *Conn) error // loop: poll c (again)
	install(c *Conn) error
	listenerFD() (int, error)
	setAccepting(on bool) error // p.closeMu held
}

func (p *Poller) detacher() (detacher, error) {
	if d, ok := p.d.(detacher); ok {
		return d, nil
	}
	return nil, ErrNoHandover
}

// SetExportSink sets where writes to exported connections go. Call it
// before the first Export.
func (p *Poller) SetExportSink(s ExportSink) { p.sink = s }

// ListenerFD is the listening socket's descriptor, for handing it over (the
// Poller keeps owning it). An error once accepting has stopped.
func (p *Poller) ListenerFD() (int, error) {
	d, err := p.detacher()
	if err != nil {
		return -1, err
	}
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	return d.listenerFD()
}

// PauseAccepting stops watching the listener without closing it: new
// connections wait in the kernel's backlog (for another process, or for
// ResumeAccepting). A connection being accepted meanwhile is served.
func (p *Poller) PauseAccepting() error {
	return p.setAccepting(false)
}

// ResumeAccepting undoes PauseAccepting.
func (p *Poller) ResumeAccepting() error {
	return p.setAccepting(true)
}

func (p *Poller) setAccepting(on bool) error {
	d, err := p.detacher()
	if err != nil {
		return err
	}
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	p.acceptOff = !on
	return d.setAccepting(on)
}

// Export takes the connection off its loop for a handover, loop only: it
// is no longer read, its timer stops, and what was queued is captured (after
// one last attempt to write it). Under the connection's write lock, add runs
// with the state (its slices valid during the call), so nothing written to
// the connection can reach the sink before add has run; from then on every
// write is both kept (for Resume) and given to the sink, and nothing more is
// written to the socket. A connection that is closing (final bytes queued,
// lingering) or closed is not exported (an error), nor is any when add fails.
func (c *Conn) Export(add func(d *Detached) error) error {
	p := c.loop.p
	dt, err := p.detacher()
	if err != nil {
		return err
	}
	if p.sink == nil {
		return errors.New("poller: Export without an ExportSink")
	}
	if c.loopClosed || c.lingering {
		return fmt.Errorf("poller: export: %w", ErrClosed)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.final || c.closeAfter || c.detach != attached {
		return fmt.Errorf("poller: export: the connection is closing or detached: %w", ErrClosed)
	}
	if c.q != nil {
		if err := p.d.write(c); err != nil {
			c.requestLocked(taskClose, err)
			return err
		}
	}
	now := p.Now()
	d := Detached{FD: int(c.fd), Remote: c.RemoteAddr(), Idle: time.Duration(now - c.lastRead.Before(now))}
	if c.deadline != 0 {
		d.Timer = max(time.Duration(c.timerAt(now)-now), 1)
	}
	if lo := c.loop.leftover(c); lo != nil {
		d.Input = lo.B
	}
	if c.q != nil {
		for i := range c.q.segs {
			d.Output = append(d.Output, c.q.segs[i].data()...)
		}
	}
	if err := dt.detach(c); err != nil {
		return err
	}
	if err := add(&d); err != nil {
		_ = dt.attach(c)
		return err
	}
	c.detach = exported
	c.loop.wheel.Cancel(&c.timer)
	return nil
}

// Resume serves an exported connection on again (the handover was
// aborted), loop only: it is polled again, its timer re-armed, and what was
// queued meanwhile is written; past Config.WriteQueue it is closed as a slow
// consumer. Input that arrived meanwhile waits in the socket.
func (c *Conn) Resume() error {
	dt, err := c.loop.p.detacher()
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.detach != exported {
		c.mu.Unlock()
		return errors.New("poller: resume: the connection is not exported")
	}
	c.detach = attached
	wq := c.loop.p.cfg.WriteQueue
	over := wq > 0 && c.queuedBytes() > wq
	c.mu.Unlock()
	if c.loopClosed {
		return nil
	}
	if over {
		c.loop.closeConn(c, ErrSlowConsumer)
		return nil
	}
	if err := dt.attach(c); err != nil {
		c.loop.closeConn(c, err)
		return err
	}
	c.loop.schedule(c)
	c.flushFromLoop()
	return nil
}

// Release forgets an exported connection that another process now serves,
// loop only: its descriptor is closed with close(2) only (the socket lives
// on in the other process), its buffers dropped, and the handler's OnClose
// does not run: the caller disposes of the connection's context itself.
func (c *Conn) Release() {
	if c.loopClosed {
		return
	}
	c.mu.Lock()
	c.closed = true
	c.releaseQueue()
	c.mu.Unlock()
	c.forget()
}

// forget closes a detached connection's descriptor and drops it from its
// loop without OnClose. Loop only.
func (c *Conn) forget() {
	l := c.loop
	c.loopClosed = true
	l.wheel.Cancel(&c.timer)
	l.dropLeftover(c)
	l.p.d.closeSocket(c)
	l.count.Add(-1)
}

// Adopt takes a connection handed over by another process, parked: not
// polled, no timer, nothing written, until StartAdopted; writes are queued
// meanwhile; the caller fills its State before StartAdopted.
// d.Input is presented to the handler with the first bytes read after the
// start; d.Output is queued first; the timer and the last read are restored
// from their durations. The Poller owns d.FD from this call on, even on an
// error.
func (p *Poller) Adopt(d Detached) (*Conn, error) {
	dt, err := p.detacher()
	if err != nil {
		closeFD(d.FD)
		return nil, err
	}
	l := p.loops[int(p.adopted.Add(1))%len(p.loops)]
	now := p.Now()
	c := p.lay.newConn()
	c.loop, c.fd, c.lastRead, c.detach = l, int32(d.FD), StampOf(now-int64(d.Idle)), parked
	// While parked, deadline holds the time left (in a Stamp's units,
	// rounded up); StartAdopted makes it a deadline again.
	if d.Timer > 0 {
		c.deadline = deadlineOf(int64(min(d.Timer, MaxTimer)))
	}
	c.setRemote(d.Remote)
	if err := dt.install(c); err != nil {
		closeFD(d.FD)
		return nil, err
	}
	// The input is the loop's to hold (loop.held): it is copied there on
	// the loop, before StartAdopted, which runs on the loop too.
	input := bytes.Clone(d.Input)
	l.post(task{kind: taskFunc, fn: func() {
		l.count.Add(1)
		l.parked = append(l.parked, c)
		if len(input) > 0 && !c.loopClosed {
			l.keep(c, input, false)
		}
	}})
	if len(d.Output) > 0 {
		if err := c.Write(d.Output); err != nil {
			return c, err // past -write-queue: closed as a slow consumer once started
		}
	}
	return c, nil
}

// StartAdopted starts every parked connection: polled, timers running
// from the time they had left, queued output written. It returns once every
// loop has done so.
func (p *Poller) StartAdopted() {
	p.eachLoop(func(l *loop) {
		dt, _ := p.detacher()
		now := p.Now()
		for _, c := range l.parked {
			c.mu.Lock()
			c.detach = attached
			c.mu.Unlock()
			if c.loopClosed {
				continue
			}
			if c.deadline != 0 {
				c.deadline = max(c.deadline+StampOf(now), 1)
			}
			if err := dt.attach(c); err != nil {
				l.closeConn(c, err)
				continue
			}
			l.schedule(c)
			c.flushFromLoop()
		}
		l.parked = nil
	})
}

// DropAdopted closes every parked connection's descriptor (close(2) only:
// the other process serves those sockets on) without OnClose; the caller
// disposes of their contexts. It returns once every loop has done so.
func (p *Poller) DropAdopted() {
	p.eachLoop(func(l *loop) {
		for _, c := range l.parked {
			if c.loopClosed {
				continue
			}
			c.mu.Lock()
			c.closed = true
			c.releaseQueue()
			c.mu.Unlock()
			c.forget()
		}
		l.parked = nil
	})
}

// eachLoop runs fn on every loop and waits for all.
func (p *Poller) eachLoop(fn func(l *loop)) {
	done := make(chan struct{}, len(p.loops))
	for _, l := range p.loops {
		l.post(task{kind: taskFunc, fn: func() { fn(l); done <- struct{}{} }})
	}
	for range p.loops {
		<-done
	}
}

// closeFD closes a descriptor the Poller was given but could not use.
func closeFD(fd int) { _ = os.NewFile(uintptr(fd), "").Close() }

// Detached reports whether the connection is exported or parked. Loop only.
func (c *Conn) Detached() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.detach != attached
}
