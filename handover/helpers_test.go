package handover

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitFor bounds every wait in these tests; they end as soon as the
// condition holds. Generous: the process tests run several race-enabled
// processes on a machine that may be shared.
const waitFor = 120 * time.Second

// inProcess connects a Successor and a Predecessor in this process over a
// real channel socketpair, through HELLO and START.
func inProcess(t testing.TB, hello Hello, cfg TransferConfig) (*Transfer, *Predecessor, Start) {
	t.Helper()
	a, b, err := socketpair()
	if err != nil {
		t.Fatal(err)
	}
	epA, err := newEndpoint(a, 0)
	if err != nil {
		t.Fatal(err)
	}
	epB, err := newEndpoint(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	pred := &Predecessor{ep: epB, pidfd: -1, gone: func(time.Duration) bool { return false }}
	s := &Successor{ep: epA, exited: make(chan struct{})}
	type ready struct {
		st  Start
		err error
	}
	rc := make(chan ready, 1)
	go func() {
		st, err := pred.Ready(hello, waitFor)
		rc <- ready{st, err}
	}()
	if err := s.awaitHello(t.Context(), waitFor); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Begin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := <-rc
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { tx.ep.close(); pred.ep.close() })
	return tx, pred, r.st
}

// tcpConns opens n loopback TCP connections and returns the client ends and
// the accepted server ends' descriptors (owned by the test, closed at
// cleanup).
func tcpConns(t testing.TB, n int) (clients []net.Conn, serverFDs []int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.(*net.TCPConn).File()
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		serverFDs = append(serverFDs, int(f.Fd()))
		// f must stay reachable or its finalizer closes the descriptor.
		t.Cleanup(func() { f.Close() })
	}
	t.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
	})
	return clients, serverFDs
}

// adopted is what recAdopter holds for one connection.
type adopted struct {
	fd     int
	state  []byte
	out    bytes.Buffer
	events []string
}

// recAdopter records what Run gives it.
type recAdopter struct {
	mu        sync.Mutex
	conns     map[uint64]*adopted
	log       []string
	refuse    func(Conn) error
	relayed   []Message
	natsEnd   bool
	committed chan struct{}
	aborted   chan error
	shared    map[*byte]int // shared frame -> times written
}

func newRecAdopter() *recAdopter {
	return &recAdopter{
		conns: make(map[uint64]*adopted), committed: make(chan struct{}),
		aborted: make(chan error, 1), shared: make(map[*byte]int),
	}
}

func (a *recAdopter) Adopt(c Conn) error {
	if a.refuse != nil {
		if err := a.refuse(c); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conns[c.ID] = &adopted{fd: c.FD, state: append([]byte(nil), c.State...)}
	a.log = append(a.log, fmt.Sprintf("adopt %d", c.ID))
	return nil
}

func (a *recAdopter) Write(id uint64, b []byte, shared bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conns[id].out.Write(b)
	if shared && len(b) > 0 {
		a.shared[&b[0]]++
	}
}

func (a *recAdopter) Event(id uint64, b []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conns[id].events = append(a.conns[id].events, string(b))
}

func (a *recAdopter) Commit() {
	a.mu.Lock()
	a.log = append(a.log, "commit")
	a.mu.Unlock()
	close(a.committed)
}

func (a *recAdopter) Abort(err error) {
	a.mu.Lock()
	for _, c := range a.conns {
		unix.Close(c.fd)
	}
	a.mu.Unlock()
	a.aborted <- err
}

func (a *recAdopter) Relayed(m Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.relayed = append(a.relayed, Message{
		Origin: m.Origin, Seq: m.Seq,
		Channel: append([]byte(nil), m.Channel...), Payload: append([]byte(nil), m.Payload...),
	})
}

func (a *recAdopter) NATSEnd() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.natsEnd = true
}

// runAsync runs pred.Run in a goroutine.
func runAsync(pred *Predecessor, a Adopter) <-chan runResult {
	rc := make(chan runResult, 1)
	go func() {
		out, err := pred.Run(a)
		rc <- runResult{out, err}
	}()
	return rc
}

type runResult struct {
	out Outcome
	err error
}

func waitRun(t *testing.T, rc <-chan runResult) runResult {
	t.Helper()
	select {
	case r := <-rc:
		return r
	case <-time.After(waitFor):
		t.Fatal("Run did not return")
		return runResult{}
	}
}

// sameSocket reports whether two descriptors are the same TCP connection
// (same local and peer address).
func sameSocket(t *testing.T, a, b int) bool {
	t.Helper()
	la, err1 := unix.Getsockname(a)
	lb, err2 := unix.Getsockname(b)
	pa, err3 := unix.Getpeername(a)
	pb, err4 := unix.Getpeername(b)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		t.Fatalf("socket names: %v %v %v %v", err1, err2, err3, err4)
	}
	return fmt.Sprint(la) == fmt.Sprint(lb) && fmt.Sprint(pa) == fmt.Sprint(pb)
}
