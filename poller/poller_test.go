package poller

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// lineHandler answers every complete line ("...\n") with "<line>!\n" and
// records how connections ended. Partial lines stay in the poller.
type lineHandler struct {
	mu     sync.Mutex
	closed []error
	opened chan *Conn
	// oversized counts OnData calls whose buffer had more spare room than
	// the growth rule allows (a quarter of its length or 4 KiB, the read
	// buffer of the tests that check it).
	oversized atomic.Int64
}

func (h *lineHandler) OnOpen(c *Conn) {
	if h.opened != nil {
		h.opened <- c
	}
}

func (h *lineHandler) OnData(c *Conn, buf []byte) (int, error) {
	if cap(buf) > len(buf)+max(len(buf)/4, 4096) {
		h.oversized.Add(1)
	}
	n := 0
	for {
		i := bytes.IndexByte(buf[n:], '\n')
		if i < 0 {
			break
		}
		line := buf[n : n+i]
		if string(line) == "bye" {
			c.Write([]byte("bye!\n"))
			c.CloseAfterFlush(false)
			return len(buf), nil
		}
		c.Write(line) // copied into the queue, so two writes are fine
		c.Write([]byte("!\n"))
		n += i + 1
	}
	return n, nil
}

func (h *lineHandler) OnTimer(c *Conn, now int64) {}

func (h *lineHandler) OnClose(c *Conn, err error) {
	h.mu.Lock()
	h.closed = append(h.closed, err)
	h.mu.Unlock()
}

func (h *lineHandler) closes() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.closed...)
}

// forEachBackend runs test once per backend this build has.
func forEachBackend(t *testing.T, test func(t *testing.T, backend string)) {
	for _, b := range Backends() {
		t.Run(b, func(t *testing.T) { test(t, b) })
	}
}

func startPoller(t *testing.T, cfg Config, h Handler) *Poller {
	t.Helper()
	return startPollerFor[struct{}](t, cfg, h)
}

// startPollerFor serves a Poller whose connections carry a T (NewFor).
func startPollerFor[T any](t *testing.T, cfg Config, h Handler) *Poller {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewFor[T](ln, cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	p.Serve()
	t.Cleanup(p.Stop)
	return p
}

func dial(t *testing.T, p *Poller) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestLinesSplitAnywhere: input split anywhere reaches the handler whole,
// including a line far larger than the loop buffer, which the loop collects
// in a buffer of the connection's own, grown with what arrives.
func TestLinesSplitAnywhere(t *testing.T) { forEachBackend(t, testLinesSplitAnywhere) }

func testLinesSplitAnywhere(t *testing.T, backend string) {
	h := &lineHandler{}
	p := startPoller(t, Config{Backend: backend, Loops: 2, ReadBuffer: 4096}, h)
	c := dial(t, p)
	long := bytes.Repeat([]byte("x"), 300000)
	go func() {
		c.Write([]byte("a"))
		time.Sleep(10 * time.Millisecond)
		c.Write([]byte("bc\nde"))
		time.Sleep(10 * time.Millisecond)
		c.Write([]byte("f\n"))
		for i := 0; i < len(long); i += 7000 {
			c.Write(long[i:min(i+7000, len(long))])
		}
		c.Write([]byte("\n"))
	}()
	want := "abc!\ndef!\n" + string(long) + "!\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
		t.Fatalf("got %d bytes (%q...), err %v", len(got), got[:min(20, len(got))], err)
	}
	if n := h.oversized.Load(); n != 0 {
		t.Fatalf("%d reads handed over a buffer with more spare room than a quarter of its length or 4 KiB", n)
	}
}

func TestCloseAfterFlushSendsEverything(t *testing.T) {
	forEachBackend(t, testCloseAfterFlushSendsEverything)
}

func testCloseAfterFlushSendsEverything(t *testing.T, backend string) {
	h := &lineHandler{}
	p := startPoller(t, Config{Backend: backend, Loops: 1}, h)
	c := dial(t, p)
	c.Write([]byte("one\ntwo\nbye\nignored\n"))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "one!\ntwo!\nbye!\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	waitUntil(t, "OnClose", func() bool { return len(h.closes()) == 1 })
	if p.Len() != 0 {
		t.Fatalf("Len = %d after close", p.Len())
	}
}

func TestSlowConsumerIsClosed(t *testing.T) { forEachBackend(t, testSlowConsumerIsClosed) }

func testSlowConsumerIsClosed(t *testing.T, backend string) {
	h := &lineHandler{opened: make(chan *Conn, 1)}
	p := startPoller(t, Config{Backend: backend, Loops: 1, WriteQueue: 64 << 10}, h)
	c := dial(t, p).(*net.TCPConn)
	c.SetReadBuffer(4096)
	sc := <-h.opened
	chunk := bytes.Repeat([]byte("z"), 16<<10)
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		if err = sc.Write(chunk); err == nil {
			sc.Flush()
		}
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("writes to a peer that never reads: got %v, want ErrSlowConsumer", err)
	}
	waitUntil(t, "close", func() bool { return len(h.closes()) == 1 })
	if got := h.closes()[0]; !errors.Is(got, ErrSlowConsumer) {
		t.Fatalf("OnClose err = %v", got)
	}
	if err := sc.Write([]byte("x")); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("write after close: %v", err)
	}
}

func TestSharedFramesAndCopiesKeepOrder(t *testing.T) {
	forEachBackend(t, testSharedFramesAndCopiesKeepOrder)
}

func testSharedFramesAndCopiesKeepOrder(t *testing.T, backend string) {
	h := &lineHandler{opened: make(chan *Conn, 1)}
	p := startPoller(t, Config{Backend: backend, Loops: 1}, h)
	c := dial(t, p)
	sc := <-h.opened
	shared := []byte("shared\n")
	var want bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a writer goroutine, as a worker would be
		defer wg.Done()
		for i := 0; i < 200; i++ {
			sc.Write([]byte("own\n"))
			sc.WriteShared(shared)
			if i%10 == 0 {
				sc.Flush()
			}
		}
		sc.Flush()
	}()
	for i := 0; i < 200; i++ {
		want.WriteString("own\nshared\n")
	}
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("order broken or data lost: %v", err)
	}
	wg.Wait()
}

func TestStopClosesEverything(t *testing.T) { forEachBackend(t, testStopClosesEverything) }

func testStopClosesEverything(t *testing.T, backend string) {
	h := &lineHandler{}
	p, err := Listen("127.0.0.1:0", Config{Backend: backend, Loops: 2}, h)
	if err != nil {
		t.Fatal(err)
	}
	p.Serve()
	var conns []net.Conn
	for i := 0; i < 20; i++ {
		conns = append(conns, dial(t, p))
	}
	waitUntil(t, "accepts", func() bool { return p.Len() == 20 })
	var n atomic.Int32 // Each runs fn on every loop at once
	p.Each(func(*Conn) { n.Add(1) })
	if n := n.Load(); n != 20 {
		t.Fatalf("Each visited %d connections, want 20", n)
	}
	p.Stop()
	if got := len(h.closes()); got != 20 {
		t.Fatalf("OnClose ran %d times, want 20", got)
	}
	for _, c := range conns {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("client still connected after Stop")
		}
	}
	if _, err := net.DialTimeout("tcp", p.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still accepting after Stop")
	}
}

// blockingHandler holds its loop inside OnData until released, so tasks
// posted meanwhile pile up in the loop's list.
type blockingHandler struct {
	lineHandler
	inside, release chan struct{}
}

func (h *blockingHandler) OnData(c *Conn, buf []byte) (int, error) {
	h.inside <- struct{}{}
	<-h.release
	return len(buf), nil
}

// TestFlushSoonOnePendingPerConn: a publish flood calls FlushSoon once per
// message on every subscriber; while the loop is busy, each connection must
// hold at most one flush request in the loop's task list, and everything
// queued must still arrive once the loop runs again.
func TestFlushSoonOnePendingPerConn(t *testing.T) { forEachBackend(t, testFlushSoonOnePendingPerConn) }

func testFlushSoonOnePendingPerConn(t *testing.T, backend string) {
	h := &blockingHandler{inside: make(chan struct{}), release: make(chan struct{})}
	h.opened = make(chan *Conn, 2)
	p := startPoller(t, Config{Backend: backend, Loops: 1}, h)
	busy := dial(t, p)
	<-h.opened
	sub := dial(t, p)
	sc := <-h.opened
	busy.Write([]byte("x"))
	<-h.inside // the loop is now stuck in OnData
	const n = 10000
	msg := []byte("0123456789abcdef")
	for i := 0; i < n; i++ {
		if err := sc.WriteShared(msg); err != nil {
			t.Fatal(err)
		}
		sc.FlushSoon()
	}
	l := p.loops[0]
	l.mu.Lock()
	pending := len(l.tasks)
	l.mu.Unlock()
	close(h.release)
	if pending > 1 {
		t.Fatalf("%d FlushSoon calls left %d tasks in the loop's list, want 1", n, pending)
	}
	got := make([]byte, n*len(msg))
	if _, err := io.ReadFull(sub, got); err != nil {
		t.Fatalf("read after the loop resumed: %v", err)
	}
	if !bytes.Equal(got, bytes.Repeat(msg, n)) {
		t.Fatal("queued bytes corrupted")
	}
}

// TestWriteFinalIsLast: writers on several goroutines race a final write;
// whatever they manage to queue comes before the final bytes, nothing after
// them, and every write after the final one fails with ErrClosed.
func TestWriteFinalIsLast(t *testing.T) { forEachBackend(t, testWriteFinalIsLast) }

func testWriteFinalIsLast(t *testing.T, backend string) {
	for round := 0; round < 20; round++ {
		h := &lineHandler{opened: make(chan *Conn, 1)}
		p := startPoller(t, Config{Backend: backend, Loops: 1}, h)
		c := dial(t, p)
		sc := <-h.opened
		start := make(chan struct{})
		var wg sync.WaitGroup
		var late atomic.Int64
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				final := false
				for i := 0; i < 200; i++ {
					err := sc.Write([]byte("data\n"))
					if errors.Is(err, ErrClosed) {
						final = true
					} else if final || err != nil {
						late.Add(1) // accepted after a refusal: the state went back
					}
					sc.Flush()
				}
			}()
		}
		close(start)
		time.Sleep(time.Duration(round%5) * 50 * time.Microsecond)
		if err := sc.WriteFinal([]byte("END\n")); err != nil {
			t.Fatal(err)
		}
		sc.CloseAfterFlush(false)
		wg.Wait()
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(got, []byte("END\n")) || bytes.Count(got, []byte("END\n")) != 1 {
			t.Fatalf("round %d: stream does not end with the final bytes: ...%q", round, got[max(0, len(got)-40):])
		}
		if rest := bytes.ReplaceAll(got[:len(got)-4], []byte("data\n"), nil); len(rest) != 0 {
			t.Fatalf("round %d: unexpected bytes %q", round, rest)
		}
		if late.Load() != 0 {
			t.Fatalf("round %d: %d writes succeeded after one had failed", round, late.Load())
		}
		if err := sc.Write([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Fatalf("write after the final bytes: %v, want ErrClosed", err)
		}
	}
}

// TestConnSize: an idle connection's cost starts with this struct, 96
// bytes, and the handler's state follows it in the same object (NewFor):
// with the server's 48 bytes that is 144, a size class. (The std backend's
// socket lives after the state, the epoll generation in the timer entry's
// padding, the queued byte count in the queue lent while there is one,
// unconsumed input in the loop's table.)
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 96 {
		t.Fatalf("poller.Conn is %d bytes, budget 96", n)
	}
	var c *Conn
	if a := testing.AllocsPerRun(10, func() { c = layoutOf[[48]byte]{}.newConn() }); a != 1 {
		t.Fatalf("a connection with its state is %v allocations, want 1", a)
	}
	if st := State[[48]byte](c); ConnOf(st) != c || uintptr(unsafe.Pointer(st))-uintptr(unsafe.Pointer(c)) != unsafe.Sizeof(Conn{}) {
		t.Fatalf("the state is not right after its Conn")
	}
}

// TestRemoteAddr: the peer's address comes back as set; an IPv4 peer seen
// through an IPv6 socket is that IPv4 address.
func TestRemoteAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:5000", "127.0.0.1:5000"},
		{"[::1]:80", "[::1]:80"},
		{"[2001:db8::7]:65535", "[2001:db8::7]:65535"},
		{"[::ffff:10.1.2.3]:9", "10.1.2.3:9"},
	} {
		var c Conn
		c.setRemote(netip.MustParseAddrPort(tc.in))
		if got := c.RemoteAddr().String(); got != tc.want {
			t.Errorf("%s: RemoteAddr %s, want %s", tc.in, got, tc.want)
		}
	}
}
