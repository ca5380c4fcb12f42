package natsbroker

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

// waitFor is the upper bound of every wait in these tests; they end as soon as the condition
// holds.
const waitFor = 5 * time.Second

var testIP = netip.MustParseAddr("127.0.0.1")

var errClosed = errors.New("fake conn: closed")

// fakeConn is a routing.Conn that records replies (Send, copied) and publications
// (SendPrepared, framed as the real connection does, the frame kept by reference to check
// that it is shared).
type fakeConn struct {
	mu      sync.Mutex
	replies []string
	frames  [][]byte
	closed  bool
}

func (f *fakeConn) Send(p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errClosed
	}
	f.replies = append(f.replies, string(p))
	return nil
}

func (f *fakeConn) SendPrepared(m *codec.Prepared) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errClosed
	}
	f.frames = append(f.frames, m.Frame())
	return nil
}

func (f *fakeConn) Flush() error { return nil }
func (f *fakeConn) FlushSoon()   {}

func (f *fakeConn) RemoteIP() netip.Addr { return testIP }

func (f *fakeConn) Close(codec.CloseCode, string) {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

func (f *fakeConn) snapshot() (replies []string, frames [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.replies...), append([][]byte(nil), f.frames...)
}

// messages are the payloads of the frames received, in order.
func (f *fakeConn) messages() []string {
	_, frames := f.snapshot()
	out := make([]string, len(frames))
	for i, fr := range frames {
		out[i] = string(payload(fr))
	}
	return out
}

// payload checks that f is one final unmasked text frame in the shortest form and returns
// its payload.
func payload(f []byte) []byte {
	if len(f) < 2 || f[0] != 0x81 || f[1]&0x80 != 0 {
		panic(fmt.Sprintf("not a final unmasked text frame: % x", f[:min(len(f), 10)]))
	}
	p := f[2:]
	switch f[1] & 0x7f {
	case 126:
		p = f[4:]
	case 127:
		p = f[10:]
	}
	if codec.FrameSize(len(p)) != len(f) {
		panic("frame length mismatch")
	}
	return p
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// natsServer runs an embedded NATS server on 127.0.0.1; port -1 picks a free port.
func natsServer(t testing.TB, port int, maxPayload int32) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true, MaxPayload: maxPayload,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(waitFor) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

func serverPort(ns *server.Server) int { return ns.Addr().(*net.TCPAddr).Port }

// node is one wsedge node: hub, broker and router with the built-in handlers.
type node struct {
	t   *testing.T
	hub *routing.Hub
	b   *Broker
	r   *routing.Router
}

func newNode(t *testing.T, url string, opts ...Option) *node {
	t.Helper()
	hub := routing.NewHub(0)
	log := zap.NewNop()
	if testing.Verbose() {
		log = zaptest.NewLogger(t)
	}
	opts = append([]Option{ReconnectWait(20 * time.Millisecond)}, opts...)
	b, err := New(url, hub, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	hub.SetCluster(b)
	r := routing.New(routing.Options{Workers: 2, Queue: 1024, Hub: hub})
	routing.RegisterBuiltins(r)
	n := &node{t: t, hub: hub, b: b, r: r}
	t.Cleanup(func() {
		r.Close()
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return n
}

// open returns a new session of the node.
func (n *node) open() (*fakeConn, *routing.Session) {
	f := &fakeConn{}
	return f, n.r.Open(f)
}

// request sends one JSON message and waits for the reply number want (1-based).
func (n *node) request(f *fakeConn, s *routing.Session, want int, format string, args ...any) string {
	n.t.Helper()
	n.r.Dispatch(s, codec.OpText, fmt.Appendf(nil, format, args...))
	var last string
	eventually(n.t, "reply to "+fmt.Sprintf(format, args...), func() bool {
		replies, _ := f.snapshot()
		if len(replies) >= want {
			last = replies[want-1]
			return true
		}
		return false
	})
	return last
}

// subscriber opens a session subscribed to channel.
func (n *node) subscriber(channel string) (*fakeConn, *routing.Session) {
	n.t.Helper()
	f, s := n.open()
	n.subscribe(f, s, channel, 1)
	return f, s
}

func (n *node) subscribe(f *fakeConn, s *routing.Session, channel string, reply int) {
	n.t.Helper()
	if got := n.request(f, s, reply, `{"type":"subscribe","id":"s","channel":%q}`, channel); got != `{"type":"ack","id":"s"}` {
		n.t.Fatalf("subscribe %s: %s", channel, got)
	}
}

func (n *node) unsubscribe(f *fakeConn, s *routing.Session, channel string, reply int) {
	n.t.Helper()
	if got := n.request(f, s, reply, `{"type":"unsubscribe","id":"u","channel":%q}`, channel); got != `{"type":"ack","id":"u"}` {
		n.t.Fatalf("unsubscribe %s: %s", channel, got)
	}
}

// publish publishes data on channel from a new session and returns the reply.
func (n *node) publish(channel, data string) string {
	n.t.Helper()
	f, s := n.open()
	defer n.r.Closed(s)
	return n.request(f, s, 1, `{"type":"publish","id":"p","channel":%q,"data":%s}`, channel, data)
}

// message is the payload every subscriber of channel gets for a publish of data.
func message(channel, data string) string {
	return fmt.Sprintf(`{"type":"message","channel":%q,"data":%s}`, channel, data)
}

// flush makes sure the server has processed everything the node sent (its subscriptions).
func (n *node) flush() {
	n.t.Helper()
	if err := n.b.nc.FlushTimeout(waitFor); err != nil {
		n.t.Fatal(err)
	}
}

func join(ss []string) string { return strings.Join(ss, " | ") }
