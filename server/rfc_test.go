package server

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/codec"
)

// TestRFC6455Violations sends each violation on its own connection and
// checks the close code, that TCP is closed after it, and that a bystander
// connection keeps working.
func TestRFC6455Violations(t *testing.T) {
	o := testOptions()
	o.MaxMessageSize = 1000
	s := startServer(t, o)
	bystander, _, err := websocket.DefaultDialer.Dial(wsURL(s, "/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bystander.Close()

	big := strings.Repeat("a", 1000)
	cases := []struct {
		name   string
		frames [][]byte
		code   codec.CloseCode
	}{
		{"rsv1 set", [][]byte{frame(true, 4, codec.OpText, true, []byte("x"))}, codec.CloseProtocolError},
		{"rsv3 set on ping", [][]byte{frame(true, 1, codec.OpPing, true, nil)}, codec.CloseProtocolError},
		{"reserved opcode 3", [][]byte{frame(true, 0, 3, true, nil)}, codec.CloseProtocolError},
		{"reserved opcode 0xB", [][]byte{frame(true, 0, 0xB, true, nil)}, codec.CloseProtocolError},
		{"unmasked frame", [][]byte{frame(true, 0, codec.OpText, false, []byte("x"))}, codec.CloseProtocolError},
		{"fragmented ping", [][]byte{frame(false, 0, codec.OpPing, true, nil)}, codec.CloseProtocolError},
		{"ping over 125", [][]byte{frame(true, 0, codec.OpPing, true, bytes.Repeat([]byte{1}, 126))}, codec.CloseProtocolError},
		{"continuation first", [][]byte{msgFrame(codec.OpContinuation, true, "x")}, codec.CloseProtocolError},
		{"text inside fragmented", [][]byte{msgFrame(codec.OpText, false, "a"), msgFrame(codec.OpText, true, "b")}, codec.CloseProtocolError},
		{"invalid utf8", [][]byte{msgFrame(codec.OpText, true, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")}, codec.CloseInvalidPayload},
		{"invalid utf8 in first fragment", [][]byte{msgFrame(codec.OpText, false, "ok\xff")}, codec.CloseInvalidPayload},
		{"utf8 split across fragments then broken", [][]byte{msgFrame(codec.OpText, false, "\xce"), msgFrame(codec.OpContinuation, true, "\x41")}, codec.CloseInvalidPayload},
		{"truncated utf8 at end", [][]byte{msgFrame(codec.OpText, false, "a"), msgFrame(codec.OpContinuation, true, "\xe2\x82")}, codec.CloseInvalidPayload},
		{"close with 1 byte", [][]byte{frame(true, 0, codec.OpClose, true, []byte{3})}, codec.CloseProtocolError},
		{"close code 999", [][]byte{frame(true, 0, codec.OpClose, true, closePayload(999, ""))}, codec.CloseProtocolError},
		{"close code 1005", [][]byte{frame(true, 0, codec.OpClose, true, closePayload(1005, ""))}, codec.CloseProtocolError},
		{"close code 1004", [][]byte{frame(true, 0, codec.OpClose, true, closePayload(1004, ""))}, codec.CloseProtocolError},
		{"close code 5000", [][]byte{frame(true, 0, codec.OpClose, true, closePayload(5000, ""))}, codec.CloseProtocolError},
		{"close reason invalid utf8", [][]byte{frame(true, 0, codec.OpClose, true, closePayload(1000, "\xff"))}, codec.CloseInvalidPayload},
		{"message one over limit", [][]byte{msgFrame(codec.OpBinary, true, big+"a")}, codec.CloseTooBig},
		{"fragments add up over limit", [][]byte{msgFrame(codec.OpText, false, big[:600]), msgFrame(codec.OpContinuation, true, big[:401])}, codec.CloseTooBig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, s, "/echo")
			r.send(tc.frames...)
			r.expectClose(tc.code)
			msg := []byte("still here: " + tc.name)
			if err := bystander.WriteMessage(websocket.TextMessage, msg); err != nil {
				t.Fatalf("bystander write: %v", err)
			}
			if _, got, err := bystander.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("bystander read: %q %v", got, err)
			}
		})
	}
}

// TestRFC6455Valid covers what must work: sizes, fragmentation with control
// frames inside, pings, and the close handshake.
func TestRFC6455Valid(t *testing.T) {
	o := testOptions()
	o.MaxMessageSize = 70000
	s := startServer(t, o)

	t.Run("payload lengths", func(t *testing.T) {
		r := dialRaw(t, s, "/echo")
		for _, n := range []int{0, 125, 126, 65535, 65536, 70000} {
			p := bytes.Repeat([]byte{'z'}, n)
			r.send(frame(true, 0, codec.OpBinary, true, p))
			f, err := r.next()
			if err != nil || f.op != codec.OpBinary || !f.fin || !bytes.Equal(f.payload, p) {
				t.Fatalf("len %d: op %v len %d err %v", n, f.op, len(f.payload), err)
			}
		}
	})
	t.Run("exactly the size limit in fragments", func(t *testing.T) {
		r := dialRaw(t, s, "/echo")
		a, b := strings.Repeat("q", 40000), strings.Repeat("r", 30000)
		r.send(msgFrame(codec.OpText, false, a), msgFrame(codec.OpContinuation, true, b))
		f, err := r.next()
		if err != nil || string(f.payload) != a+b {
			t.Fatalf("got len %d err %v", len(f.payload), err)
		}
	})
	t.Run("control frames inside a fragmented message", func(t *testing.T) {
		r := dialRaw(t, s, "/echo")
		r.send(msgFrame(codec.OpText, false, "hel"), frame(true, 0, codec.OpPing, true, []byte("p1")),
			msgFrame(codec.OpContinuation, false, "lo "), frame(true, 0, codec.OpPong, true, []byte("unsolicited")),
			msgFrame(codec.OpContinuation, true, "κόσμε"))
		f, err := r.next()
		if err != nil || f.op != codec.OpPong || string(f.payload) != "p1" {
			t.Fatalf("want pong p1 first, got %v %q %v", f.op, f.payload, err)
		}
		f, err = r.next()
		if err != nil || f.op != codec.OpText || string(f.payload) != "hello κόσμε" {
			t.Fatalf("want assembled text, got %v %q %v", f.op, f.payload, err)
		}
	})
	t.Run("ping echoes payload", func(t *testing.T) {
		r := dialRaw(t, s, "/echo")
		p := bytes.Repeat([]byte{0xfe}, 125)
		r.send(frame(true, 0, codec.OpPing, true, p))
		f, err := r.next()
		if err != nil || f.op != codec.OpPong || !bytes.Equal(f.payload, p) {
			t.Fatalf("pong: %v %d %v", f.op, len(f.payload), err)
		}
	})
	t.Run("close handshake then server closes TCP", func(t *testing.T) {
		r := dialRaw(t, s, "/echo")
		r.send(frame(true, 0, codec.OpClose, true, closePayload(1000, "done")))
		r.expectClose(codec.CloseNormal)
	})
	t.Run("empty close is answered", func(t *testing.T) {
		r := dialRaw(t, s, "/echo")
		r.send(frame(true, 0, codec.OpClose, true, nil))
		r.expectClose(codec.CloseNormal)
	})
	t.Run("byte at a time", func(t *testing.T) {
		r := dialRaw(t, s, "/echo")
		for _, b := range msgFrame(codec.OpText, true, "slow but fine") {
			r.send([]byte{b})
		}
		f, err := r.next()
		if err != nil || string(f.payload) != "slow but fine" {
			t.Fatalf("got %q %v", f.payload, err)
		}
	})
}
