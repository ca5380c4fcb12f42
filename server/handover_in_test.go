package server

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/handover"
	"github.com/wsedge/wsedge/poller"
	"github.com/wsedge/wsedge/routing"
)

// readServerText reads one unmasked text frame (payload < 126 bytes).
func readServerText(t *testing.T, c net.Conn) string {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if h[0] != 0x81 || h[1] >= 126 {
		t.Fatalf("frame header %x", h)
	}
	p := make([]byte, h[1])
	if _, err := io.ReadFull(c, p); err != nil {
		t.Fatalf("read payload: %v", err)
	}
	return string(p)
}

// TestAdopterServesOn: the successor's side of a handover, in process, on a
// real TCP connection: a connection adopted from its state record (half a
// frame read, a session with a user and a subscription) and the output and
// events the old process forwarded after its capture is served from COMMIT
// on exactly where it stopped: the queued output first, the rest of the
// frame answered, publishes to its channels (one subscribed by the server
// API during the window) delivered, and counted as this node's.
func TestAdopterServesOn(t *testing.T) {
	o := testOptions()
	if o.Poller != "" && o.Poller != "epoll" {
		t.Skip("only the epoll backend hands connections over")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(o, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StartInherited(ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)

	// The client's connection, as the old process held it.
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	client, err := net.Dial("tcp", other.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.SetDeadline(time.Now().Add(10 * time.Second))
	held, err := other.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := held.(*net.TCPConn).File()
	held.Close()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	ping := codec.AppendClientFrame(nil, codec.OpText, true, [4]byte{1, 2, 3, 4}, []byte(`{"type":"ping","id":"p"}`))
	rec := &connRecord{
		state: stOpen, ep: epWS, upgraded: true, remote: netip.MustParseAddrPort(client.LocalAddr().String()),
		input: ping[:7], timer: time.Minute, idle: time.Second,
		sess: &routing.SessionState{ConnectedAt: time.Now().UnixNano(), User: "alice", Channels: []string{"news"}},
		// The client a trusted proxy named in the old process: the adopted
		// session answers with it, not with the socket's peer.
		client: netip.MustParseAddr("203.0.113.7"),
	}
	committed := false
	a := s.Adopter(nil, handover.Start{}, func() { committed = true })
	if err := a.Adopt(handover.Conn{ID: 7, FD: fd, State: appendRecord(nil, rec)}); err != nil {
		t.Fatal(err)
	}
	a.Write(7, codec.AppendFrame(nil, codec.OpText, true, []byte("queued before the pause")), false)
	a.Event(7, append([]byte{evSubscribe}, "extra"...))
	// Parked: nothing is written before COMMIT.
	client.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := client.Read(make([]byte, 1)); n != 0 {
		t.Fatal("the adopted connection was served before COMMIT")
	}
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	a.Commit()
	if !committed {
		t.Fatal("onCommit did not run")
	}
	if got := readServerText(t, client); got != "queued before the pause" {
		t.Fatalf("first output %q", got)
	}
	if _, err := client.Write(ping[7:]); err != nil {
		t.Fatal(err)
	}
	if got := readServerText(t, client); got != `{"type":"pong","id":"p"}` {
		t.Fatalf("answer to the frame split across the handover: %q", got)
	}
	hub := s.Router().Hub()
	for _, ch := range []string{"news", "extra"} {
		if err := hub.Publish(ch, []byte(`1`), routing.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		if got, want := readServerText(t, client), `{"type":"message","channel":"`+ch+`","data":1}`; got != want {
			t.Fatalf("publish to %s: %q, want %q", ch, got, want)
		}
	}
	if hub.UserConnections("alice") != 1 || s.Connections() != 1 {
		t.Fatalf("user connections %d, node connections %d", hub.UserConnections("alice"), s.Connections())
	}
	var ips []netip.Addr
	s.Router().Registry().Range(func(sess *routing.Session) bool { ips = append(ips, sess.RemoteIP()); return true })
	if len(ips) != 1 || ips[0] != rec.client {
		t.Fatalf("adopted sessions' client addresses %v, want [%v]", ips, rec.client)
	}
	// An unknown record version is refused (the old process keeps that one).
	bad := appendRecord(nil, rec)
	bad[0] = recordVersion + 1
	fd2, _ := unix.Dup(0)
	if err := a.Adopt(handover.Conn{ID: 8, FD: fd2, State: bad}); err == nil {
		t.Fatal("a record of an unknown version was adopted")
	}
	unix.Close(fd2) // refused: the package closes it; here, the test does
}

// TestCanHandOver: only the epoll backend can hand connections over; the
// others refuse before a successor is started.
func TestCanHandOver(t *testing.T) {
	for _, backend := range []string{"epoll", "std"} {
		t.Run(backend, func(t *testing.T) {
			o := testOptions()
			o.Poller = backend
			s := startServer(t, o)
			err := s.CanHandOver()
			if (err == nil) != (backend == "epoll") {
				t.Fatalf("CanHandOver = %v", err)
			}
			if err != nil && !errors.Is(err, poller.ErrNoHandover) {
				t.Fatalf("CanHandOver = %v, want poller.ErrNoHandover", err)
			}
		})
	}
}
