package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/codec"
)

// The /ws tests talk to the server through three independent clients (gorilla, coder and the
// raw byte-level client), behind one small interface so the same tables run over each.

// wsTimeout bounds every single read of the /ws tests: it only turns a hang into a failure.
const wsTimeout = 10 * time.Second

// wsClient sends and receives text messages on /ws.
type wsClient interface {
	name() string
	send(t testing.TB, msg string)
	// recv returns the next message, which must be a text message.
	recv(t testing.TB) []byte
}

type gorillaClient struct{ c *websocket.Conn }

func dialGorilla(t testing.TB, url string) *gorillaClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: wsTimeout}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("gorilla dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return &gorillaClient{c: c}
}

func (g *gorillaClient) name() string { return "gorilla" }

func (g *gorillaClient) send(t testing.TB, msg string) {
	t.Helper()
	_ = g.c.SetWriteDeadline(time.Now().Add(wsTimeout))
	if err := g.c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("gorilla write %q: %v", msg, err)
	}
}

func (g *gorillaClient) recv(t testing.TB) []byte {
	t.Helper()
	_ = g.c.SetReadDeadline(time.Now().Add(wsTimeout))
	op, p, err := g.c.ReadMessage()
	if err != nil {
		t.Fatalf("gorilla read: %v", err)
	}
	if op != websocket.TextMessage {
		t.Fatalf("gorilla read: message type %d, want text: %q", op, p)
	}
	return p
}

type coderClient struct{ c *coder.Conn }

func dialCoder(t testing.TB, url string) *coderClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsTimeout)
	defer cancel()
	c, _, err := coder.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("coder dial %s: %v", url, err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &coderClient{c: c}
}

func (k *coderClient) name() string { return "coder" }

func (k *coderClient) send(t testing.TB, msg string) {
	t.Helper()
	if err := coderWrite(k, msg); err != nil {
		t.Fatalf("coder write %q: %v", msg, err)
	}
}

func (k *coderClient) recv(t testing.TB) []byte {
	t.Helper()
	p, err := coderRead(k)
	if err != nil {
		t.Fatalf("coder read: %v", err)
	}
	return p
}

// coderWrite and coderRead are the halves of coderClient that goroutines may call.
func coderWrite(k *coderClient, msg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), wsTimeout)
	defer cancel()
	return k.c.Write(ctx, coder.MessageText, []byte(msg))
}

func coderRead(k *coderClient) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wsTimeout)
	defer cancel()
	typ, p, err := k.c.Read(ctx)
	if err == nil && typ != coder.MessageText {
		err = fmt.Errorf("message type %v, want text: %q", typ, p)
	}
	return p, err
}

// rawWS adapts the byte-level rawClient.
type rawWS struct{ r *rawClient }

func (w rawWS) name() string { return "raw" }

func (w rawWS) send(t testing.TB, msg string) {
	t.Helper()
	w.r.send(msgFrame(codec.OpText, true, msg))
}

func (w rawWS) recv(t testing.TB) []byte {
	t.Helper()
	f, err := w.r.nextFrame(wsTimeout)
	if err != nil {
		t.Fatalf("raw read: %v", err)
	}
	if f.op != codec.OpText || !f.fin {
		t.Fatalf("raw read: op %d fin %v, want one whole text frame: %q", f.op, f.fin, f.payload)
	}
	return f.payload
}

// wsDialers are the clients every table runs over.
var wsDialers = []struct {
	name string
	dial func(t testing.TB, s *Server) wsClient
}{
	{"gorilla", func(t testing.TB, s *Server) wsClient { return dialGorilla(t, wsURL(s, "/ws")) }},
	{"coder", func(t testing.TB, s *Server) wsClient { return dialCoder(t, wsURL(s, "/ws")) }},
	{"raw", func(t testing.TB, s *Server) wsClient { return rawWS{dialRaw(t, s, "/ws")} }},
}

// expectMsg reads the next message and requires exactly want, byte for byte.
func expectMsg(t testing.TB, c wsClient, want string) {
	t.Helper()
	if got := c.recv(t); string(got) != want {
		t.Fatalf("%s: got  %s\nwant %s", c.name(), got, want)
	}
}

// exchange sends msg and requires exactly want as the next message.
func exchange(t testing.TB, c wsClient, msg, want string) {
	t.Helper()
	c.send(t, msg)
	expectMsg(t, c, want)
}

// expectIdle proves that nothing is pending for c: a ping sent now must be answered by the very
// next message. Replies and broadcasts to one connection are queued in order, so a message
// delivered before this call would come first.
func expectIdle(t testing.TB, c wsClient, id string) {
	t.Helper()
	exchange(t, c, `{"type":"ping","id":"`+id+`"}`, `{"type":"pong","id":"`+id+`"}`)
}

// wsReply is any server reply of the JSON protocol, fields kept raw where the test compares
// bytes.
type wsReply struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// checkError requires p to be an error reply with code, the raw id token id (or no id at all
// when id is ""), a non-empty message and no other field.
func checkError(p []byte, code, id string) error {
	var r wsReply
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("reply %s: %v", p, err)
	}
	switch {
	case r.Type != "error" || r.Error == nil:
		return fmt.Errorf("want an error reply, got %s", p)
	case r.Error.Code != code:
		return fmt.Errorf("want code %s, got %s", code, p)
	case strings.TrimSpace(r.Error.Message) == "":
		return fmt.Errorf("empty error message: %s", p)
	case string(r.ID) != id:
		return fmt.Errorf("want id %s echoed, got %s", orNone(id), p)
	case r.Channel != "" || r.Data != nil:
		return fmt.Errorf("error reply with channel or data: %s", p)
	}
	return nil
}

func orNone(id string) string {
	if id == "" {
		return "(none)"
	}
	return id
}

// wsFrameTo is the exact server frame carrying payload (unmasked, final, text).
func wsFrameTo(payload string) []byte {
	return codec.AppendFrame(nil, codec.OpText, true, []byte(payload))
}

// rawSubscribe opens a bare TCP connection to addr, sends the /ws upgrade request and a
// subscribe to channel in one write, and reads exactly the 101 response and the ack, so that
// nothing is left unread. It starts no goroutine: the 10,000-subscriber test holds the sockets
// and reads them one after another.
func rawSubscribe(addr, channel, id string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, wsTimeout)
	if err != nil {
		return nil, err
	}
	sub := `{"type":"subscribe","id":"` + id + `","channel":"` + channel + `"}`
	req := append([]byte(upgradeRequest("/ws", "")), msgFrame(codec.OpText, true, sub)...)
	_ = c.SetDeadline(time.Now().Add(wsTimeout))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	ack := wsFrameTo(`{"type":"ack","id":"` + id + `"}`)
	var buf [1024]byte
	n, head := 0, -1
	for head < 0 || n < head+len(ack) {
		m, err := c.Read(buf[n:])
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("upgrade and subscribe (read %q): %w", buf[:n], err)
		}
		n += m
		if head < 0 {
			if head = headEnd(buf[:n]); head >= 0 && !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101 ")) {
				c.Close()
				return nil, fmt.Errorf("upgrade refused: %q", buf[:n])
			}
		}
	}
	if got := buf[head:n]; !bytes.Equal(got, ack) {
		c.Close()
		return nil, fmt.Errorf("subscribe answered %q, want %q", got, ack)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// pendingBytes reports how many bytes c has received and not yet read, without blocking and
// without consuming them (recv with MSG_PEEK|MSG_DONTWAIT). A closed peer shows as an error.
func pendingBytes(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, errors.New("not a syscall.Conn")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	var b [64]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // one non-blocking look; never wait for readiness
	})
	switch {
	case err != nil:
		return 0, err
	case rerr == syscall.EAGAIN:
		return 0, nil
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// abort closes c with a TCP reset (SO_LINGER 0): a client that vanishes without a close frame.
func abort(t testing.TB, c net.Conn) {
	t.Helper()
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetLinger(0); err != nil {
			t.Fatalf("SetLinger: %v", err)
		}
	}
	c.Close()
}
