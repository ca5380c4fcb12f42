package poller

import (
	"bytes"
	"io"
	"strconv"
	"testing"
)

// sendHandler answers each line "<n>\n" with Send2: a header "[" and n
// bytes of a pattern, then "]\n" in a second Send2, the way the WebSocket
// layer answers a frame (header, payload) from OnData.
type sendHandler struct{ lineHandler }

func (h *sendHandler) OnData(c *Conn, buf []byte) (int, error) {
	n := 0
	for {
		i := bytes.IndexByte(buf[n:], '\n')
		if i < 0 {
			return n, nil
		}
		size, err := strconv.Atoi(string(buf[n : n+i]))
		if err != nil {
			return 0, err
		}
		if err := c.Send2([]byte("["), pattern(size)); err != nil {
			return 0, err
		}
		if err := c.Send2(nil, []byte("]\n")); err != nil {
			return 0, err
		}
		n += i + 1
	}
}

// patternBytes is the longest pattern the tests ask for.
var patternBytes = func() []byte {
	b := make([]byte, 5<<20)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}()

func pattern(n int) []byte { return patternBytes[:n] }

// TestSend2InOrder: answers written at once and answers the socket could
// not take (a client that does not read while megabytes are answered) reach
// the client whole and in order, on every backend.
func TestSend2InOrder(t *testing.T) { forEachBackend(t, testSend2InOrder) }

func testSend2InOrder(t *testing.T, backend string) {
	h := &sendHandler{}
	p := startPoller(t, Config{Backend: backend, Loops: 1, WriteQueue: 64 << 20}, h)
	c := dial(t, p)
	sizes := []int{0, 1, 64, 4096, 3 << 20, 10, 5 << 20, 64, 1}
	var req []byte
	var want bytes.Buffer
	for _, n := range sizes {
		req = append(req, strconv.Itoa(n)+"\n"...)
		want.WriteByte('[')
		want.Write(pattern(n))
		want.WriteString("]\n")
	}
	// All requests at once, nothing read yet: the first answers fill the
	// socket, the rest must queue behind them.
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %v", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		i := 0
		for i < len(got) && got[i] == want.Bytes()[i] {
			i++
		}
		t.Fatalf("answers differ from byte %d of %d", i, want.Len())
	}
	// Then small ones one at a time (the direct path on epoll).
	for i := 0; i < 100; i++ {
		if _, err := c.Write([]byte("5\n")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 8)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "[abcde]\n" {
			t.Fatalf("answer %d: %q, %v", i, b, err)
		}
	}
	if errs := h.closes(); len(errs) != 0 {
		t.Fatalf("connection closed: %v", errs)
	}
}
