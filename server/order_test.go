package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

// orderReply is a reply as the order tests read it.
type orderReply struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Error *struct {
		Code string `json:"code"`
	} `json:"error"`
}

// TestOrderOverRate: 100 pings pipelined in one write over -msg-rate get their replies in
// message order: the accepted ones (the burst) answered first, each refused one answered
// RATE_LIMITED in its place, and the 1008 close comes only after all of them. Nothing is
// logged as an internal error.
func TestOrderOverRate(t *testing.T) {
	o := testOptions()
	o.MsgRate = 1 // a token per second: within this test only the burst passes
	o.MsgBurst = 10
	s := startServer(t, o)
	r := dialRaw(t, s, "/ws")
	var batch [][]byte
	for i := range 100 {
		batch = append(batch, msgFrame(codec.OpText, true, `{"type":"ping","id":"`+strconv.Itoa(i)+`"}`))
	}
	r.send(batch...)
	// Burst 10, then 9 RATE_LIMITED; the 10th refusal within 10 s closes (limits.MsgBucket).
	var got []string
	for {
		f, err := r.nextFrame(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d replies %v: %v", len(got), got, err)
		}
		if f.op == codec.OpClose {
			if code := codec.CloseCode(binary.BigEndian.Uint16(f.payload)); code != codec.ClosePolicyViolation {
				t.Fatalf("close %d after %v, want 1008", code, got)
			}
			break
		}
		var m orderReply
		if err := json.Unmarshal(f.payload, &m); err != nil {
			t.Fatalf("reply %q: %v", f.payload, err)
		}
		switch {
		case m.Type == "pong":
			got = append(got, "pong "+m.ID)
		case m.Type == "error" && m.Error != nil:
			got = append(got, m.Error.Code+" "+m.ID)
		default:
			t.Fatalf("unexpected reply %s", f.payload)
		}
	}
	var want []string
	for i := range 19 {
		if i < 10 {
			want = append(want, fmt.Sprintf("pong %d", i))
		} else {
			want = append(want, fmt.Sprintf("%s %d", routing.CodeRateLimited, i))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replies before the close:\n%v\nwant:\n%v", got, want)
	}
	r.expectEOF()
}

// TestFairShare: with -workers 1 -queue 256, one client keeps pipelining slow requests far
// beyond what the worker handles; another client's pings are never answered OVERLOADED. The
// heavy client does get OVERLOADED (it is the one past its share), and its replies keep its
// order.
func TestFairShare(t *testing.T) {
	o := testOptions()
	o.Workers = 1
	o.Queue = 256
	s := startServer(t, o)
	s.Router().Handle("work", func(c *routing.Context) error {
		time.Sleep(200 * time.Microsecond) // a handler that does some work
		return c.Reply("done", nil)
	})
	heavy := dialRaw(t, s, "/ws")
	_ = heavy.conn.SetDeadline(time.Time{})
	light := dialGorilla(t, wsURL(s, "/ws"))

	// The heavy client writes batches of requests until the light one is done, and reads
	// every reply, checking their order.
	var sent atomic.Int64
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			var batch []byte
			for range 50 {
				batch = append(batch, msgFrame(codec.OpText, true, `{"type":"work","id":"`+strconv.Itoa(int(sent.Load()))+`"}`)...)
				sent.Add(1)
			}
			_ = heavy.conn.SetWriteDeadline(time.Now().Add(wsTimeout))
			if _, err := heavy.conn.Write(batch); err != nil {
				writerDone <- err
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var overloaded, read int
	readerDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				if int64(read) == sent.Load() {
					readerDone <- nil
					return
				}
			default:
			}
			f, err := heavy.nextFrame(wsTimeout)
			if err != nil {
				readerDone <- fmt.Errorf("heavy reply %d: %w", read, err)
				return
			}
			var m orderReply
			if err := json.Unmarshal(f.payload, &m); err != nil || m.ID != strconv.Itoa(read) {
				readerDone <- fmt.Errorf("heavy reply %d out of order: %s", read, f.payload)
				return
			}
			if m.Type == "error" && m.Error != nil && m.Error.Code == string(routing.CodeOverloaded) {
				overloaded++
			}
			read++
		}
	}()
	for i := range 100 {
		id := `"l` + strconv.Itoa(i) + `"`
		light.send(t, `{"type":"ping","id":`+id+`}`)
		if got := light.recv(t); string(got) != `{"type":"pong","id":`+id+`}` {
			close(stop)
			t.Fatalf("light client, ping %d: %s", i, got)
		}
	}
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	if overloaded == 0 {
		t.Fatal("the heavy client was never refused: the test did not load the worker queue")
	}
	t.Logf("heavy client: %d of %d answered OVERLOADED", overloaded, read)
}

// TestBinaryAfterReplies: a binary message on /ws closes with 1003, after the replies to the
// messages before it.
func TestBinaryAfterReplies(t *testing.T) {
	s := startServer(t, testOptions())
	r := dialRaw(t, s, "/ws")
	r.send(msgFrame(codec.OpText, true, `{"type":"ping","id":"1"}`), msgFrame(codec.OpText, true, `{"type":"ping","id":"2"}`),
		msgFrame(codec.OpBinary, true, `{"type":"ping","id":"3"}`), msgFrame(codec.OpText, true, `{"type":"ping","id":"4"}`))
	raw := rawWS{r}
	expectMsg(t, raw, `{"type":"pong","id":"1"}`)
	expectMsg(t, raw, `{"type":"pong","id":"2"}`)
	r.expectClose(codec.CloseUnsupportedData)
}
