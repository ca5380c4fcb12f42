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

// fakeConn is a routing.Conn that records replies (WriteMessage, copied) and broadcast frames
// (WriteFrame, kept by reference to check that they are shared).
type fakeConn struct {
	mu      sync.Mutex
	replies []string
	frames  [][]byte
	closed  bool
}

func (f *fakeConn) WriteMessage(_ codec.OpCode, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errClosed
	}
	f.replies = append(f.replies, string(p))
	return nil
}

func (f *fakeConn) WriteFrame(frame []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errClosed
	}
	f.frames = append(f.frames, frame)
	return nil
}

func (f *fakeConn) Flush() error { return nil }
func (f *fakeConn) FlushSoon()   {}

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

// messages are the payloads of the broadcast frames received, in order.
func (f *fakeConn) messages() []string {
	_, frames := f.snapshot()
	out := make([]string, len(frames))
	for i, fr := range frames {
		out[i] = string(payload(fr))
	}
	return out
}

// payload strips the header of an unmasked server frame.
func payload(f []byte) []byte {
	switch f[1] & 0x7f {
	case 126:
		return f[4:]
	case 127:
		return f[10:]
	}
	return f[2:]
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
	// manual: the hub has no interest hook but the broker runs per channel, so the test
	// reports interest changes the way the hook would.
	manual bool
}

func newNode(t *testing.T, url string, m mode, opts ...Option) *node {
	t.Helper()
	hub := routing.NewHub(0)
	log := zap.NewNop()
	if testing.Verbose() {
		log = zaptest.NewLogger(t)
	}
	opts = append([]Option{ReconnectWait(20 * time.Millisecond), func(c *config) { c.mode = m }}, opts...)
	b, err := New(url, hub, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r := routing.New(routing.Options{Workers: 2, Queue: 1024, Hub: hub, Broker: b})
	routing.RegisterBuiltins(r)
	n := &node{t: t, hub: hub, b: b, r: r, manual: b.perChannel && b.hooked == nil}
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
	return f, n.r.Open(f, testIP)
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
	first := n.hub.Subscribers(channel) == 0
	if got := n.request(f, s, reply, `{"type":"subscribe","id":"s","channel":%q}`, channel); got != `{"type":"ack","id":"s"}` {
		n.t.Fatalf("subscribe %s: %s", channel, got)
	}
	if n.manual && first {
		n.b.interest(channel, true)
	}
}

func (n *node) unsubscribe(f *fakeConn, s *routing.Session, channel string, reply int) {
	n.t.Helper()
	if got := n.request(f, s, reply, `{"type":"unsubscribe","id":"u","channel":%q}`, channel); got != `{"type":"ack","id":"u"}` {
		n.t.Fatalf("unsubscribe %s: %s", channel, got)
	}
	if n.manual && n.hub.Subscribers(channel) == 0 {
		n.b.interest(channel, false)
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

func modes() []struct {
	name string
	mode mode
} {
	return []struct {
		name string
		mode mode
	}{{"per-channel", modePerChannel}, {"wildcard", modeWildcard}}
}

func join(ss []string) string { return strings.Join(ss, " | ") }
