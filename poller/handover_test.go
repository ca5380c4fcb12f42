//go:build linux

package poller

import (
	"bufio"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The handover primitives between two Pollers of one process: a dup of the
// descriptor stands for the one SCM_RIGHTS carries between processes (both
// are a second descriptor of the same socket).

// timerHandler is lineHandler that also records OnTimer calls.
type timerHandler struct {
	lineHandler
	fired chan time.Time
}

func (h *timerHandler) OnTimer(c *Conn, now int64) {
	h.fired <- time.Now()
	c.Write([]byte("tick\n"))
}

// teeSink plays the handover channel: what is written to exported
// connections reaches their adopted copies, in order.
type teeSink struct {
	mu     sync.Mutex
	to     map[*Conn]*Conn
	held   map[*Conn][][]byte // written before the copy exists
	closes map[*Conn]bool
}

func newTeeSink() *teeSink {
	return &teeSink{to: map[*Conn]*Conn{}, held: map[*Conn][][]byte{}, closes: map[*Conn]bool{}}
}

func (s *teeSink) Write(c *Conn, b []byte, f WriteFlags) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held[c] = append(s.held[c], append([]byte(nil), b...))
}

func (s *teeSink) CloseAfterFlush(c *Conn, waitPeer bool) {
	s.mu.Lock()
	s.closes[c] = true
	s.mu.Unlock()
}

// deliver applies what was teed for old to its copy.
func (s *teeSink) deliver(t *testing.T, old, copy *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.held[old] {
		if err := copy.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	delete(s.held, old)
}

// export runs Export on c's loop and returns the state, with a dup of the
// descriptor (what the other process would receive).
func export(t *testing.T, c *Conn) Detached {
	t.Helper()
	done := make(chan error, 1)
	var d Detached
	c.Do(func() {
		done <- c.Export(func(x *Detached) error {
			d = *x
			d.Input = append([]byte(nil), x.Input...)
			d.Output = append([]byte(nil), x.Output...)
			fd, err := unix.Dup(x.FD)
			d.FD = fd
			return err
		})
	})
	if err := <-done; err != nil {
		t.Fatalf("Export: %v", err)
	}
	return d
}

func onLoop(c *Conn, fn func()) {
	done := make(chan struct{})
	c.Do(func() { fn(); close(done) })
	<-done
}

// TestHandoverBetweenPollers: a connection with a partial line, queued
// output and a running timer moves to another Poller: output queued before
// the export and written during it arrives once and in order, the partial
// line completes with the bytes sent after the move, the timer fires after
// the time it had left (not counting the pause), and the old Poller neither
// reads, writes nor closes the socket. Same TCP connection throughout.
func TestHandoverBetweenPollers(t *testing.T) {
	ha := &timerHandler{lineHandler: lineHandler{opened: make(chan *Conn, 1)}, fired: make(chan time.Time, 4)}
	hb := &timerHandler{fired: make(chan time.Time, 4)}
	a := startPoller(t, Config{Loops: 2}, ha)
	b := startPoller(t, Config{Loops: 2, PauseAtStart: true}, hb)
	sink := newTeeSink()
	a.SetExportSink(sink)
	client := dial(t, a)
	r := bufio.NewReader(client)
	old := <-ha.opened
	client.Write([]byte("one\ntw"))
	if l, _ := r.ReadString('\n'); l != "one!\n" {
		t.Fatalf("before: %q", l)
	}
	waitUntil(t, "partial line held", func() bool {
		var n int
		onLoop(old, func() { n = old.Buffered() })
		return n == 2
	})
	const timer = 400 * time.Millisecond
	onLoop(old, func() {
		old.SetTimer(old.Now() + int64(timer))
		old.Write([]byte("queued-before\n")) // not flushed: still queued at the export
	})
	time.Sleep(100 * time.Millisecond)
	d := export(t, old)
	if string(d.Input) != "tw" || d.Timer <= 0 || d.Timer > timer-50*time.Millisecond || d.Remote.Port() == 0 {
		t.Fatalf("exported %+v", d)
	}
	if string(d.Output) != "" && string(d.Output) != "queued-before\n" {
		t.Fatalf("exported output %q", d.Output)
	}
	// Written during the move: kept by the old side, teed to the new.
	old.Write([]byte("during\n"))
	client.Write([]byte("o\n")) // completes "two"; nobody reads it yet
	pause := 300 * time.Millisecond
	time.Sleep(pause)
	select {
	case <-ha.fired:
		t.Fatal("the exported connection's timer fired on the old Poller")
	default:
	}

	cp, err := b.Adopt(d)
	if err != nil {
		t.Fatal(err)
	}
	sink.deliver(t, old, cp)
	startAt := time.Now()
	b.StartAdopted()
	onLoop(old, old.Release)
	if n := a.Len(); n != 0 {
		t.Fatalf("old Poller still counts %d connections", n)
	}
	if n := b.Len(); n != 1 {
		t.Fatalf("new Poller counts %d connections", n)
	}
	want := []string{"queued-before\n", "during\n", "two!\n", "tick\n"}
	if string(d.Output) == "" { // the old side wrote it before the export
		if l, _ := r.ReadString('\n'); l != "queued-before\n" {
			t.Fatalf("got %q", l)
		}
		want = want[1:]
	}
	for _, w := range want {
		if l, err := r.ReadString('\n'); l != w {
			t.Fatalf("got %q %v, want %q", l, err, w)
		}
	}
	fired := <-hb.fired
	if took := fired.Sub(startAt); took < d.Timer-20*time.Millisecond {
		t.Fatalf("timer fired %v after the start, it had %v left", took, d.Timer)
	}
	client.Write([]byte("three\nbye\n"))
	for _, w := range []string{"three!\n", "bye!\n"} {
		if l, err := r.ReadString('\n'); l != w {
			t.Fatalf("got %q %v, want %q", l, err, w)
		}
	}
	if len(ha.closes()) != 0 {
		t.Fatalf("OnClose ran on the old Poller: %v", ha.closes())
	}
}

// TestHandoverResume: an export that is called off: the adopted copy is
// dropped (close(2) only, the client sees nothing), the old Poller resumes
// the connection and writes what was queued meanwhile, then serves on.
func TestHandoverResume(t *testing.T) {
	ha := &lineHandler{opened: make(chan *Conn, 1)}
	a := startPoller(t, Config{Loops: 1}, ha)
	b := startPoller(t, Config{Loops: 1, PauseAtStart: true}, &lineHandler{})
	a.SetExportSink(newTeeSink())
	client := dial(t, a)
	r := bufio.NewReader(client)
	old := <-ha.opened
	client.Write([]byte("x\n"))
	r.ReadString('\n')
	d := export(t, old)
	old.Write([]byte("while-paused\n"))
	client.Write([]byte("y\n"))
	if _, err := b.Adopt(d); err != nil {
		t.Fatal(err)
	}
	b.DropAdopted()
	if n := b.Len(); n != 0 {
		t.Fatalf("dropped copies still counted: %d", n)
	}
	onLoop(old, func() {
		if err := old.Resume(); err != nil {
			t.Error(err)
		}
	})
	for _, w := range []string{"while-paused\n", "y!\n"} {
		if l, err := r.ReadString('\n'); l != w {
			t.Fatalf("got %q %v, want %q", l, err, w)
		}
	}
	client.Write([]byte("z\n"))
	if l, _ := r.ReadString('\n'); l != "z!\n" {
		t.Fatalf("after resume: %q", l)
	}
}

// TestHandoverCloseWhileExported: a close asked for during the export
// reaches the sink, not the socket; Resume then ends the connection after
// its output.
func TestHandoverCloseWhileExported(t *testing.T) {
	ha := &lineHandler{opened: make(chan *Conn, 1)}
	a := startPoller(t, Config{Loops: 1, LingerTimeout: 100 * time.Millisecond}, ha)
	sink := newTeeSink()
	a.SetExportSink(sink)
	client := dial(t, a)
	old := <-ha.opened
	export(t, old)
	old.Write([]byte("last\n"))
	old.Close(errors.New("going"))
	old.CloseAfterFlush(true)
	time.Sleep(50 * time.Millisecond)
	sink.mu.Lock()
	asked := sink.closes[old]
	sink.mu.Unlock()
	if !asked || len(ha.closes()) != 0 {
		t.Fatalf("close while exported: sink told %v, OnClose ran %d times", asked, len(ha.closes()))
	}
	onLoop(old, func() { old.Resume() })
	b, err := bufio.NewReader(client).ReadString('\n')
	if b != "last\n" {
		t.Fatalf("got %q %v", b, err)
	}
	waitUntil(t, "closed after resume", func() bool { return len(ha.closes()) == 1 })
}

// TestHandoverListener: paused, the listener leaves new clients in the
// backlog; its descriptor serves a second Poller, which accepts them once
// resumed, while the first stops accepting for good.
func TestHandoverListener(t *testing.T) {
	ha := &lineHandler{opened: make(chan *Conn, 4)}
	a := startPoller(t, Config{Loops: 2}, ha)
	if err := a.PauseAccepting(); err != nil {
		t.Fatal(err)
	}
	waiting := dial(t, a) // connected by the kernel, not accepted
	waiting.Write([]byte("hello\n"))
	select {
	case <-ha.opened:
		t.Fatal("accepted while paused")
	case <-time.After(200 * time.Millisecond):
	}
	fd, err := a.ListenerFD()
	if err != nil {
		t.Fatal(err)
	}
	dup, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	// Closed through its *os.File: a unix.Close would leave the File's
	// finalizer to close the number again later, by then perhaps another
	// test's socket.
	f := os.NewFile(uintptr(dup), "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	hb := &lineHandler{opened: make(chan *Conn, 4)}
	b, err := New(ln, Config{Loops: 2, PauseAtStart: true}, hb)
	if err != nil {
		t.Fatal(err)
	}
	b.Serve()
	t.Cleanup(b.Stop)
	a.StopAccepting()
	if err := b.ResumeAccepting(); err != nil {
		t.Fatal(err)
	}
	<-hb.opened
	if l, _ := bufio.NewReader(waiting).ReadString('\n'); l != "hello!\n" {
		t.Fatalf("the client that waited: %q", l)
	}
	if len(ha.opened) != 0 {
		t.Fatal("the first Poller accepted after stopping")
	}
}

// TestHandoverStdRefuses: the std backend says it cannot.
func TestHandoverStdRefuses(t *testing.T) {
	h := &lineHandler{opened: make(chan *Conn, 1)}
	p := startPoller(t, Config{Backend: "std", Loops: 1}, h)
	p.SetExportSink(newTeeSink())
	if err := p.PauseAccepting(); !errors.Is(err, ErrNoHandover) {
		t.Fatalf("PauseAccepting: %v", err)
	}
	dial(t, p)
	c := <-h.opened
	var err error
	onLoop(c, func() { err = c.Export(func(*Detached) error { return nil }) })
	if !errors.Is(err, ErrNoHandover) || !strings.Contains(err.Error(), "epoll") {
		t.Fatalf("Export: %v", err)
	}
}
