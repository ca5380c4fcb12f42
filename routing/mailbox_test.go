package routing

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/codec"
)

// gate is a "block" handler: the first message of that type waits until open is called (also
// called at cleanup, before the router's Close waits for the handler).
type gate struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate(t *testing.T, r *Router) *gate {
	g := &gate{started: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(g.open)
	r.Handle("block", func(c *Context) error {
		g.started <- struct{}{}
		<-g.release
		return c.Reply("unblocked", nil)
	})
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func pingMsg(id string) []byte { return fmt.Appendf(nil, `{"type":"ping","id":%q}`, id) }

func pong(id string) string { return fmt.Sprintf(`{"type":"pong","id":%q}`, id) }

func errReply(id string, code Code, msg string) string {
	return fmt.Sprintf(`{"type":"error","id":%q,"error":{"code":%q,"message":%q}}`, id, code, msg)
}

func sameList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Refusals decided outside the workers (RATE_LIMITED by the server, OVERLOADED by Dispatch)
// and a policy close keep their place among the replies of one connection.
func TestRefusalsKeepOrder(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 1, Queue: 100})
	g := newGate(t, r)
	f := &fakeConn{}
	s := r.Open(f)
	r.Dispatch(s, codec.OpText, []byte(`{"type":"block","id":"0"}`))
	<-g.started
	r.Dispatch(s, codec.OpText, pingMsg("1"))
	r.Refuse(s, pingMsg("2"), CodeRateLimited, "slow down")
	r.Dispatch(s, codec.OpText, pingMsg("3"))
	r.Refuse(s, pingMsg("4"), CodeRateLimited, "slow down")
	r.Refuse(s, []byte(`not json`), CodeRateLimited, "slow down")
	r.CloseAfterReplies(s, codec.ClosePolicyViolation, "rate")
	r.Dispatch(s, codec.OpText, pingMsg("after close")) // dropped: the connection is closing
	r.Refuse(s, pingMsg("after close"), CodeRateLimited, "slow down")
	if got := f.replies(); len(got) != 0 {
		t.Fatalf("written while the worker still holds message 0: %q", got)
	}
	if closed, _, _ := f.closeState(); closed {
		t.Fatal("closed before the replies in flight")
	}
	g.open()
	want := []string{`{"type":"unblocked","id":"0"}`, pong("1"), errReply("2", CodeRateLimited, "slow down"),
		pong("3"), errReply("4", CodeRateLimited, "slow down"),
		`{"type":"error","error":{"code":"RATE_LIMITED","message":"slow down"}}`}
	sameList(t, "replies", waitReplies(t, f, len(want)), want)
	waitFor(t, "the close", func() bool { closed, _, _ := f.closeState(); return closed })
	if _, code, at := f.closeState(); code != codec.ClosePolicyViolation || at != len(want) {
		t.Fatalf("closed with %d after %d replies, want 1008 after %d", code, at, len(want))
	}
	waitFor(t, "queue to empty", func() bool { return r.Queued() == 0 })
	if got := f.replies(); len(got) != len(want) {
		t.Fatalf("answered after the close: %q", got[len(want):])
	}
}

// With nothing in flight a refusal and a close happen at once, on the caller's goroutine.
func TestRefusalsWhenIdle(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 1})
	f := &fakeConn{}
	s := r.Open(f)
	r.Refuse(s, pingMsg("x"), CodeRateLimited, "")
	if got := f.replies(); len(got) != 1 || got[0] != errReply("x", CodeRateLimited, "too many messages; slow down") {
		t.Fatalf("replies %q", got)
	}
	r.Dispatch(s, codec.OpBinary, []byte("bin"))
	if closed, code, _ := f.closeState(); !closed || code != codec.CloseUnsupportedData {
		t.Fatalf("binary message: closed %v with %d, want 1003 at once", closed, code)
	}
}

// A binary message closes the connection with 1003 after the replies to what came before it.
func TestBinaryClosesAfterReplies(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 1})
	g := newGate(t, r)
	f := &fakeConn{}
	s := r.Open(f)
	r.Dispatch(s, codec.OpText, []byte(`{"type":"block","id":"0"}`))
	<-g.started
	r.Dispatch(s, codec.OpText, pingMsg("1"))
	r.Dispatch(s, codec.OpBinary, pingMsg("2"))
	r.Dispatch(s, codec.OpText, pingMsg("3"))
	g.open()
	waitFor(t, "the close", func() bool { closed, _, _ := f.closeState(); return closed })
	_, code, at := f.closeState()
	if got := f.replies(); code != codec.CloseUnsupportedData || at != 2 || len(got) != 2 || got[1] != pong("1") {
		t.Fatalf("close %d after %d replies %q; want 1003 after the 2 replies", code, at, got)
	}
}

// One connection cannot take the whole queue: past its share (PerConn), once half of the
// queue is in use, it gets OVERLOADED for its own excess, in order, while another connection
// is still served. On a quiet node it may pipeline deeper than its share.
func TestFairShare(t *testing.T) {
	const perConn, sent = 8, 80
	for _, tc := range []struct {
		queue, accepted int // accepted: the heavy connection's messages taken, the blocked one included
	}{
		{queue: 16, accepted: 8},   // half the queue is its share: held to it
		{queue: 100, accepted: 50}, // quiet node: up to half the queue
		{queue: 1000, accepted: sent},
	} {
		t.Run(fmt.Sprint(tc.queue), func(t *testing.T) {
			r, _ := newTestRouter(t, Options{Workers: 1, Queue: tc.queue, PerConn: perConn})
			g := newGate(t, r)
			heavy := &fakeConn{}
			hs := r.Open(heavy)
			r.Dispatch(hs, codec.OpText, []byte(`{"type":"block","id":"0"}`))
			<-g.started
			for i := 1; i < sent; i++ {
				r.Dispatch(hs, codec.OpText, pingMsg(fmt.Sprint(i)))
			}
			if q := r.Queued(); q != tc.accepted {
				t.Fatalf("the heavy connection holds %d of the queue, want %d", q, tc.accepted)
			}
			light := &fakeConn{}
			ls := r.Open(light)
			for i := range perConn {
				r.Dispatch(ls, codec.OpText, pingMsg(fmt.Sprint("l", i)))
			}
			if got := light.replies(); len(got) != 0 {
				t.Fatalf("the light connection was refused: %q", got)
			}
			g.open()
			want := []string{`{"type":"unblocked","id":"0"}`}
			for i := 1; i < sent; i++ {
				if i < tc.accepted {
					want = append(want, pong(fmt.Sprint(i)))
				} else {
					want = append(want, errReply(fmt.Sprint(i), CodeOverloaded, "server overloaded; message dropped"))
				}
			}
			sameList(t, "heavy connection", waitReplies(t, heavy, len(want)), want)
			got := waitReplies(t, light, perConn)
			for i, g := range got {
				if g != pong(fmt.Sprint("l", i)) {
					t.Fatalf("light connection reply %d = %s", i, g)
				}
			}
			waitFor(t, "queue to empty", func() bool { return r.Queued() == 0 })
		})
	}
}

// Error replies waiting behind replies in flight are bounded (NoteBytes): past it the
// connection gets what was accepted, then a 1008 close.
func TestNoteBytesBound(t *testing.T) {
	one := len(errReply("10", CodeOverloaded, "server overloaded; message dropped")) + 4
	r, _ := newTestRouter(t, Options{Workers: 1, Queue: 4, PerConn: 2, NoteBytes: 3 * one})
	g := newGate(t, r)
	f := &fakeConn{}
	s := r.Open(f)
	r.Dispatch(s, codec.OpText, []byte(`{"type":"block","id":"b"}`))
	<-g.started
	for i := 1; i < 20; i++ {
		r.Dispatch(s, codec.OpText, pingMsg(fmt.Sprint(i+9))) // ids 10..28, all two digits
	}
	g.open()
	waitFor(t, "the close", func() bool { closed, _, _ := f.closeState(); return closed })
	_, code, at := f.closeState()
	got := f.replies()
	if code != codec.ClosePolicyViolation || at != 5 || len(got) != 5 {
		t.Fatalf("close %d after %d of %d replies %q; want 1008 after 2 answers and 3 refusals", code, at, len(got), got)
	}
	for i, id := range []string{"11", "12", "13"} {
		if want := errReply(id, CodeOverloaded, "server overloaded; message dropped"); got[2+i] != want {
			t.Fatalf("reply %d = %s, want %s", 2+i, got[2+i], want)
		}
	}
}

// A reply to a connection that is already closed is no server error: nothing is logged at
// error level and no error reply is attempted.
func TestReplyToClosedConn(t *testing.T) {
	r, logs := newTestRouter(t, Options{Workers: 1})
	done := make(chan error, 1)
	r.Handle("late", func(c *Context) error {
		err := c.Reply("late", nil)
		done <- err
		return err
	})
	f := &fakeConn{closed: true}
	s := r.Open(f)
	r.Dispatch(s, codec.OpText, []byte(`{"type":"late","id":"1"}`))
	if err := <-done; err != ErrConnClosed {
		t.Fatalf("Reply on a closed connection returned %v, want ErrConnClosed", err)
	}
	waitFor(t, "queue to empty", func() bool { return r.Queued() == 0 })
	r.Close()
	if n := logs.FilterLevelExact(zap.ErrorLevel).Len(); n != 0 {
		t.Fatalf("%d error-level log lines for a reply to a closed connection: %v", n, logs.All())
	}
	if f.writes != 0 {
		t.Fatalf("%d writes accepted by a closed connection", f.writes)
	}
}
