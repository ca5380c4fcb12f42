package routing

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wsedge/wsedge/codec"
)

// slowCalls registers "slow": a handler that defers its reply and answers when the test says
// so (as an RPC handler answers when its backend does), with the request id as data.
type slowCalls struct {
	mu      sync.Mutex
	pending map[string]*Deferred
}

func newSlowRouter(t *testing.T, opts Options) (*Router, *slowCalls) {
	r, _ := newTestRouter(t, opts)
	sc := &slowCalls{pending: map[string]*Deferred{}}
	r.Handle("slow", func(c *Context) error {
		d := c.Defer()
		sc.mu.Lock()
		sc.pending[string(d.ID())] = d
		sc.mu.Unlock()
		return nil
	})
	r.Handle("deferfail", func(c *Context) error {
		c.Defer()
		return NewError(CodeUnavailable, "backend down")
	})
	return r, sc
}

// answer answers the deferred call whose id is id (quoted).
func (sc *slowCalls) answer(t *testing.T, id string) {
	t.Helper()
	var d *Deferred
	waitFor(t, "call "+id, func() bool {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		d = sc.pending[fmt.Sprintf("%q", id)]
		return d != nil
	})
	if err := d.Reply("slow", fmt.Appendf(nil, "%q", id)); err != nil {
		t.Fatalf("answer %s: %v", id, err)
	}
}

func slowMsg(id string) []byte { return fmt.Appendf(nil, `{"type":"slow","id":%q}`, id) }

func slowReply(id string) string { return fmt.Sprintf(`{"type":"slow","id":%q,"data":%q}`, id, id) }

// A deferred reply keeps its place: replies of later messages, handled meanwhile by the
// workers, wait behind it, whichever order the deferred ones are answered in.
func TestDeferredKeepsOrder(t *testing.T) {
	r, sc := newSlowRouter(t, Options{Workers: 2, Queue: 64})
	conn := &fakeConn{}
	s := r.Open(conn)
	r.Dispatch(s, codec.OpText, slowMsg("a"))
	r.Dispatch(s, codec.OpText, pingMsg("1"))
	r.Dispatch(s, codec.OpText, slowMsg("b"))
	r.Dispatch(s, codec.OpText, pingMsg("2"))
	r.Dispatch(s, codec.OpText, []byte(`{"type":"nope","id":"3"}`))
	waitFor(t, "both calls deferred", func() bool { return s.Deferred() == 2 })
	waitFor(t, "the mailbox handled", func() bool { return r.Queued() == 0 })
	if got := conn.replies(); len(got) != 0 {
		t.Fatalf("replies overtook a deferred one: %q", got)
	}
	sc.answer(t, "b") // the later call first: nothing may leave yet
	time.Sleep(20 * time.Millisecond)
	if got := conn.replies(); len(got) != 0 {
		t.Fatalf("replies overtook the first deferred one: %q", got)
	}
	sc.answer(t, "a")
	want := []string{slowReply("a"), pong("1"), slowReply("b"), pong("2"), errReply("3", CodeUnknownType, "unknown message type")}
	sameList(t, "replies", waitReplies(t, conn, len(want)), want)
	if n := s.Deferred(); n != 0 {
		t.Fatalf("Deferred() = %d after every answer", n)
	}
	// Nothing is deferred any more: replies leave at once again.
	r.Dispatch(s, codec.OpText, pingMsg("4"))
	sameList(t, "replies", waitReplies(t, conn, len(want)+1), append(want, pong("4")))
}

// Refusals decided on the event loop (RATE_LIMITED, OVERLOADED) while a deferred reply is
// open and no worker holds the session wait behind it too, and so does a close after replies.
func TestDeferredRefusalsAndClose(t *testing.T) {
	r, sc := newSlowRouter(t, Options{Workers: 1, Queue: 64})
	conn := &fakeConn{}
	s := r.Open(conn)
	r.Dispatch(s, codec.OpText, slowMsg("a"))
	waitFor(t, "the call deferred", func() bool { return s.Deferred() == 1 && r.Queued() == 0 })
	waitFor(t, "the worker done", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return !s.scheduled })
	r.Refuse(s, pingMsg("r"), CodeRateLimited, "slow down")
	r.CloseAfterReplies(s, codec.ClosePolicyViolation, "rate")
	r.Dispatch(s, codec.OpText, pingMsg("dropped")) // closing: no more input
	if got := conn.replies(); len(got) != 0 {
		t.Fatalf("sent before the deferred reply: %q", got)
	}
	if closed, _, _ := conn.closeState(); closed {
		t.Fatal("closed before the deferred reply was answered")
	}
	sc.answer(t, "a")
	want := []string{slowReply("a"), errReply("r", CodeRateLimited, "slow down")}
	sameList(t, "replies", waitReplies(t, conn, 2), want)
	waitFor(t, "the close", func() bool { c, _, _ := conn.closeState(); return c })
	if _, code, at := conn.closeState(); code != codec.ClosePolicyViolation || at != 2 {
		t.Fatalf("closed with %d after %d messages, want 1008 after 2", code, at)
	}
}

// A handler that defers and then fails answers the deferred reply with its error; answering
// twice sends once; a closed session drops deferred replies and what waits behind them.
func TestDeferredErrorsAndClosed(t *testing.T) {
	r, sc := newSlowRouter(t, Options{Workers: 1, Queue: 64})
	conn := &fakeConn{}
	s := r.Open(conn)
	r.Dispatch(s, codec.OpText, []byte(`{"type":"deferfail","id":"f"}`))
	r.Dispatch(s, codec.OpText, pingMsg("1"))
	sameList(t, "replies", waitReplies(t, conn, 2), []string{errReply("f", CodeUnavailable, "backend down"), pong("1")})

	r.Dispatch(s, codec.OpText, slowMsg("a"))
	sc.answer(t, "a")
	sc.mu.Lock()
	d := sc.pending[`"a"`]
	sc.mu.Unlock()
	if err := d.Reply("slow", []byte(`"again"`)); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("second answer: %v, want ErrConnClosed", err)
	}
	waitReplies(t, conn, 3)

	r.Dispatch(s, codec.OpText, slowMsg("b"))
	r.Dispatch(s, codec.OpText, pingMsg("2"))
	waitFor(t, "the call deferred", func() bool { return s.Deferred() == 1 && r.Queued() == 0 })
	r.Closed(s)
	sc.mu.Lock()
	d = sc.pending[`"b"`]
	sc.mu.Unlock()
	if err := d.Reply("slow", nil); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("answer after close: %v", err)
	}
	if got := conn.replies(); len(got) != 3 {
		t.Fatalf("after the close: %q", got)
	}
}

// The replies waiting behind a deferred one are bounded by NoteBytes: past it the connection
// is closed with 1008 once the deferred reply is answered.
func TestDeferredHeldBound(t *testing.T) {
	r, sc := newSlowRouter(t, Options{Workers: 1, Queue: 1024, NoteBytes: 100})
	conn := &fakeConn{}
	s := r.Open(conn)
	r.Dispatch(s, codec.OpText, slowMsg("a"))
	for i := range 10 {
		r.Dispatch(s, codec.OpText, pingMsg(fmt.Sprint(i))) // 25 bytes a reply, 29 held
	}
	waitFor(t, "the mailbox handled", func() bool { return r.Queued() == 0 })
	sc.answer(t, "a")
	waitFor(t, "the close", func() bool { c, _, _ := conn.closeState(); return c })
	_, code, at := conn.closeState()
	if code != codec.ClosePolicyViolation {
		t.Fatalf("closed with %d", code)
	}
	want := []string{slowReply("a"), pong("0"), pong("1"), pong("2")}
	sameList(t, "replies before the close", conn.replies()[:at], want)
}
