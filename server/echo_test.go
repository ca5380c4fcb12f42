package server

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
)

func TestEchoGorilla(t *testing.T) {
	s := startServer(t, testOptions())
	c, _, err := websocket.DefaultDialer.Dial(wsURL(s, "/echo"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	for i, size := range []int{0, 1, 125, 126, 65535, 65536} {
		op := websocket.TextMessage
		if i%2 == 1 {
			op = websocket.BinaryMessage
		}
		msg := bytes.Repeat([]byte{'a' + byte(i)}, size)
		if err := c.WriteMessage(op, msg); err != nil {
			t.Fatalf("write %d: %v", size, err)
		}
		gotOp, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read %d: %v", size, err)
		}
		if gotOp != op || !bytes.Equal(got, msg) {
			t.Fatalf("size %d: got op %d len %d, want op %d len %d", size, gotOp, len(got), op, len(msg))
		}
	}
	if err := c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye")); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 1000 {
		t.Fatalf("want close 1000 echoed, got %v", err)
	}
}

func TestEchoCoderOrderAndFragments(t *testing.T) {
	s := startServer(t, testOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := coder.Dial(ctx, wsURL(s, "/echo"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	const n = 500
	go func() {
		for i := 0; i < n; i++ {
			w, err := c.Writer(ctx, coder.MessageText)
			if err != nil {
				return
			}
			// Several writes make coder send fragments.
			fmt.Fprintf(w, "msg-%d-", i)
			w.Write(bytes.Repeat([]byte("x"), 4000))
			fmt.Fprintf(w, "-end")
			w.Close()
		}
	}()
	for i := 0; i < n; i++ {
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		want := fmt.Sprintf("msg-%d-", i)
		if typ != coder.MessageText || !bytes.HasPrefix(got, []byte(want)) || !bytes.HasSuffix(got, []byte("-end")) {
			t.Fatalf("message %d out of order or damaged: %.20q", i, got)
		}
	}
	c.Close(coder.StatusNormalClosure, "")
}
