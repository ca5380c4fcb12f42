package routing

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wsedge/wsedge/codec"
)

var testIP = netip.MustParseAddr("127.0.0.1")

// waitFor polls cond until it holds; the deadline only turns a hang into a failure.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitReplies(t testing.TB, f *fakeConn, n int) []string {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d replies", n), func() bool { return len(f.replies()) >= n })
	return f.replies()
}

// failingCluster refuses every publish, like a broker that lost its connection.
type failingCluster struct{}

func (failingCluster) Publish(Publication) error   { return errors.New("nats: no servers available") }
func (failingCluster) Interest(Kind, string, bool) {}

// newTestRouter is the server's configuration plus test-only types.
func newTestRouter(t testing.TB, opts Options) (*Router, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	opts.Logger = log
	r := New(opts)
	t.Cleanup(r.Close)
	r.Use(DefaultMiddleware(log)...)
	RegisterBuiltins(r)
	r.Handle("fail", func(c *Context) error { return errors.New("database exploded") })
	r.Handle("reject", func(c *Context) error { return NewError(CodeInvalidMessage, "no thanks") })
	r.Handle("wrapped", func(c *Context) error {
		return fmt.Errorf("outer: %w", NewError(CodeUnavailable, "backend down"))
	})
	r.Handle("boom", func(c *Context) error { panic("handler bug") })
	r.Handle("twice", func(c *Context) error {
		if err := c.Reply("one", nil); err != nil {
			return err
		}
		return c.ReplyJSON("two", map[string]int{"n": 2})
	})
	return r, logs
}

func TestRouterReplies(t *testing.T) {
	long := strings.Repeat("c", MaxChannelLen+1)
	tests := []struct {
		name string
		in   []string // messages sent in order on one connection
		want []string // every reply, in order
	}{
		{"ping", []string{`{"type":"ping"}`}, []string{`{"type":"pong"}`}},
		{"ping id", []string{`{"type":"ping","id":"a1"}`}, []string{`{"type":"pong","id":"a1"}`}},
		{"id escaped verbatim", []string{`{"id":"a\"\u00e9","type":"ping"}`}, []string{`{"type":"pong","id":"a\"\u00e9"}`}},
		{"escaped type", []string{`{"type":"p\u0069ng"}`}, []string{`{"type":"pong"}`}},
		{"echo", []string{`{"type":"echo","id":"x","data":{"a":[1, 2 ,{"b":null}],"s":"\u263a"}}`},
			[]string{`{"type":"echo","id":"x","data":{"a":[1, 2 ,{"b":null}],"s":"\u263a"}}`}},
		{"echo no data", []string{`{"type":"echo"}`}, []string{`{"type":"echo"}`}},
		{"invalid json", []string{`{"type":"ping"`}, []string{`{"type":"error","error":{"code":"INVALID_JSON","message":"malformed JSON"}}`}},
		{"invalid json keeps id", []string{`{"id":"9","type":}`}, []string{`{"type":"error","id":"9","error":{"code":"INVALID_JSON","message":"malformed JSON"}}`}},
		{"not object", []string{`[]`}, []string{`{"type":"error","error":{"code":"INVALID_MESSAGE","message":"message must be a JSON object"}}`}},
		{"missing type", []string{`{"id":"q"}`}, []string{`{"type":"error","id":"q","error":{"code":"INVALID_MESSAGE","message":"type is required and must be a non-empty string"}}`}},
		{"id not string", []string{`{"type":"ping","id":3}`}, []string{`{"type":"error","error":{"code":"INVALID_MESSAGE","message":"id must be a string"}}`}},
		{"unknown type", []string{`{"type":"nope","id":"u","channel":"bad channel"}`}, []string{`{"type":"error","id":"u","error":{"code":"UNKNOWN_TYPE","message":"unknown message type"}}`}},
		{"subscribe", []string{`{"type":"subscribe","id":"s","channel":"room:1"}`}, []string{`{"type":"ack","id":"s"}`}},
		{"subscribe no channel", []string{`{"type":"subscribe","id":"s"}`}, []string{`{"type":"error","id":"s","error":{"code":"INVALID_MESSAGE","message":"channel is required for this type"}}`}},
		{"subscribe bad channel", []string{`{"type":"subscribe","id":"s","channel":"a b"}`}, []string{`{"type":"error","id":"s","error":{"code":"INVALID_MESSAGE","message":"channel must be 1-128 bytes of A-Z a-z 0-9 _ . : - (and #users for a user-limited channel)"}}`}},
		{"subscribe long channel", []string{`{"type":"subscribe","channel":"` + long + `"}`}, []string{`{"type":"error","error":{"code":"INVALID_MESSAGE","message":"channel must be 1-128 bytes of A-Z a-z 0-9 _ . : - (and #users for a user-limited channel)"}}`}},
		{"unsubscribe", []string{`{"type":"unsubscribe","id":"u","channel":"never"}`}, []string{`{"type":"ack","id":"u"}`}},
		{"publish to self", []string{
			`{"type":"subscribe","id":"1","channel":"me"}`,
			`{"type":"publish","id":"2","channel":"me","data":[true]}`,
			`{"type":"unsubscribe","id":"3","channel":"me"}`,
			`{"type":"publish","id":"4","channel":"me","data":1}`,
		}, []string{`{"type":"ack","id":"1"}`, `{"type":"message","channel":"me","data":[true]}`, `{"type":"ack","id":"2"}`, `{"type":"ack","id":"3"}`, `{"type":"ack","id":"4"}`}},
		{"publish no data", []string{`{"type":"subscribe","channel":"nd"}`, `{"type":"publish","channel":"nd"}`},
			[]string{`{"type":"ack"}`, `{"type":"message","channel":"nd"}`, `{"type":"ack"}`}},
		{"handler error", []string{`{"type":"fail","id":"f"}`}, []string{`{"type":"error","id":"f","error":{"code":"INTERNAL","message":"internal error"}}`}},
		{"handler *Error", []string{`{"type":"reject","id":"r"}`}, []string{`{"type":"error","id":"r","error":{"code":"INVALID_MESSAGE","message":"no thanks"}}`}},
		{"wrapped *Error", []string{`{"type":"wrapped"}`}, []string{`{"type":"error","error":{"code":"UNAVAILABLE","message":"backend down"}}`}},
		{"panic recovered", []string{`{"type":"boom","id":"p"}`, `{"type":"ping","id":"after"}`},
			[]string{`{"type":"error","id":"p","error":{"code":"INTERNAL","message":"internal error"}}`, `{"type":"pong","id":"after"}`}},
		{"several replies", []string{`{"type":"twice","id":"t"}`}, []string{`{"type":"one","id":"t"}`, `{"type":"two","id":"t","data":{"n":2}}`}},
	}
	r, _ := newTestRouter(t, Options{Workers: 2, Queue: 64})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeConn{}
			s := r.Open(f)
			defer r.Closed(s)
			for _, m := range tc.in {
				r.Dispatch(s, codec.OpText, []byte(m))
			}
			merged := waitReplies(t, f, len(tc.want))
			if strings.Join(merged, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("replies:\n%s\nwant:\n%s", strings.Join(merged, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestPublishBrokerUnavailable(t *testing.T) {
	hub := NewHub(0)
	hub.SetCluster(failingCluster{})
	r, _ := newTestRouter(t, Options{Workers: 1, Hub: hub})
	f := &fakeConn{}
	s := r.Open(f)
	r.Dispatch(s, codec.OpText, []byte(`{"type":"publish","id":"p","channel":"c","data":1}`))
	want := `{"type":"error","id":"p","error":{"code":"UNAVAILABLE","message":"channel broker unavailable"}}`
	if got := waitReplies(t, f, 1); got[0] != want {
		t.Fatalf("got %s, want %s", got[0], want)
	}
}

func TestBinaryClosesWith1003(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 1})
	f := &fakeConn{}
	s := r.Open(f)
	r.Dispatch(s, codec.OpBinary, []byte(`{"type":"ping"}`))
	if !f.closed || f.closeCode != codec.CloseUnsupportedData {
		t.Fatalf("closed=%v code=%d, want closed with 1003", f.closed, f.closeCode)
	}
	if r.Queued() != 0 {
		t.Fatalf("binary message was queued")
	}
}

func TestPanicLoggedWithStack(t *testing.T) {
	r, logs := newTestRouter(t, Options{Workers: 1})
	f := &fakeConn{}
	s := r.Open(f)
	r.Dispatch(s, codec.OpText, []byte(`{"type":"boom"}`))
	waitReplies(t, f, 1)
	waitFor(t, "panic log", func() bool { return logs.FilterMessage("handler panicked").Len() == 1 })
	e := logs.FilterMessage("handler panicked").All()[0]
	if st, _ := e.ContextMap()["stack"].(string); !strings.Contains(st, "router_test.go") {
		t.Fatalf("stack not logged: %v", e.ContextMap())
	}
	// Logging saw the INTERNAL error and logged it at error level with the required fields.
	waitFor(t, "message log", func() bool { return logs.FilterMessage("message").FilterField(zap.String("type", "boom")).Len() == 1 })
	m := logs.FilterMessage("message").FilterField(zap.String("type", "boom")).All()[0]
	for _, k := range []string{"session", "type", "id", "latency", "error"} {
		if _, ok := m.ContextMap()[k]; !ok {
			t.Errorf("log entry lacks %q: %v", k, m.ContextMap())
		}
	}
	if m.Level != zap.ErrorLevel {
		t.Errorf("INTERNAL logged at %v", m.Level)
	}
}

func TestMiddlewareOrder(t *testing.T) {
	r := New(Options{Workers: 1})
	defer r.Close()
	var mu sync.Mutex
	var trace []string
	mark := func(name string) Middleware {
		return func(next Handler) Handler {
			return func(c *Context) error {
				mu.Lock()
				trace = append(trace, name+">")
				mu.Unlock()
				err := next(c)
				mu.Lock()
				trace = append(trace, "<"+name)
				mu.Unlock()
				return err
			}
		}
	}
	r.Use(mark("a"), mark("b"))
	r.Use(mark("c"))
	r.Handle("ping", func(c *Context) error {
		mu.Lock()
		trace = append(trace, "h")
		mu.Unlock()
		return Ping(c)
	})
	f := &fakeConn{}
	s := r.Open(f)
	r.Dispatch(s, codec.OpText, []byte(`{"type":"ping"}`))
	waitReplies(t, f, 1)
	mu.Lock()
	defer mu.Unlock()
	if got, want := strings.Join(trace, " "), "a> b> c> h <c <b <a"; got != want {
		t.Fatalf("order %q, want %q", got, want)
	}
}

func TestValidationRules(t *testing.T) {
	r := New(Options{Workers: 1})
	defer r.Close()
	r.Use(Validation(Rules{NeedChannel: []string{"join"}, MaxIDLen: 4}))
	r.Handle("join", func(c *Context) error { return c.Reply("joined", nil) })
	r.Handle("other", func(c *Context) error { return c.Reply("ok", nil) })
	tests := []struct{ in, want string }{
		{`{"type":"join","channel":"x"}`, `{"type":"joined"}`},
		{`{"type":"join"}`, `{"type":"error","error":{"code":"INVALID_MESSAGE","message":"channel is required for this type"}}`},
		{`{"type":"other","channel":"no good"}`, `{"type":"error","error":{"code":"INVALID_MESSAGE","message":"channel must be 1-128 bytes of A-Z a-z 0-9 _ . : - (and #users for a user-limited channel)"}}`},
		{`{"type":"other","id":"12345"}`, `{"type":"error","id":"12345","error":{"code":"INVALID_MESSAGE","message":"id is too long"}}`},
		{`{"type":"other","id":"1234"}`, `{"type":"ok","id":"1234"}`},
	}
	for _, tc := range tests {
		f := &fakeConn{}
		s := r.Open(f)
		r.Dispatch(s, codec.OpText, []byte(tc.in))
		if got := waitReplies(t, f, 1)[0]; got != tc.want {
			t.Errorf("%s -> %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestOrderingUnderConcurrency sends interleaved messages from many connections and checks
// that each connection's replies come back complete and in order.
func TestOrderingUnderConcurrency(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 4, Queue: 0})
	const conns, perConn = 16, 200
	fs := make([]*fakeConn, conns)
	ss := make([]*Session, conns)
	for i := range fs {
		fs[i] = &fakeConn{}
		ss[i] = r.Open(fs[i])
	}
	var wg sync.WaitGroup
	for loop := range 2 { // two "event loops", each owning half of the connections
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range perConn {
				for i := loop; i < conns; i += 2 {
					r.Dispatch(ss[i], codec.OpText, fmt.Appendf(nil, `{"type":"echo","id":"%d","data":%d}`, n, n))
				}
			}
		}()
	}
	wg.Wait()
	for i, f := range fs {
		got := waitReplies(t, f, perConn)
		for n, g := range got {
			if want := fmt.Sprintf(`{"type":"echo","id":"%d","data":%d}`, n, n); g != want {
				t.Fatalf("conn %d reply %d = %s, want %s", i, n, g, want)
			}
		}
	}
	if q := r.Queued(); q != 0 {
		t.Fatalf("Queued() = %d after all replies", q)
	}
}

func TestOverloaded(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 1, Queue: 2})
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the router's Close, which waits for the handler
	r.Handle("block", func(c *Context) error {
		close(started)
		<-release
		return c.Reply("unblocked", nil)
	})
	f := &fakeConn{}
	s := r.Open(f)
	r.Dispatch(s, codec.OpText, []byte(`{"type":"block","id":"b"}`))
	<-started                                                          // 1 message held by the worker
	r.Dispatch(s, codec.OpText, []byte(`{"type":"ping","id":"q"}`))    // 2: queued, at the bound
	r.Dispatch(s, codec.OpText, []byte(`{"type":"ping","id":"over"}`)) // 3: over the bound
	other := &fakeConn{}
	r.Dispatch(r.Open(other), codec.OpText, []byte(`garbage`)) // the bound is global
	// A session with nothing in flight is answered at once, from the dispatching goroutine;
	// one with replies still to come gets its OVERLOADED after them, never before.
	if got := other.replies(); len(got) != 1 || !strings.Contains(got[0], `"OVERLOADED"`) {
		t.Fatalf("other conn got %q", got)
	}
	if got := f.replies(); len(got) != 0 {
		t.Fatalf("replies before release = %q: the refusal overtook the replies in flight", got)
	}
	unblock()
	got := waitReplies(t, f, 3)
	want := []string{`{"type":"unblocked","id":"b"}`, `{"type":"pong","id":"q"}`,
		`{"type":"error","id":"over","error":{"code":"OVERLOADED","message":"server overloaded; message dropped"}}`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after release:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	waitFor(t, "queue to empty", func() bool { return r.Queued() == 0 })
	r.Dispatch(s, codec.OpText, []byte(`{"type":"ping","id":"again"}`))
	if got := waitReplies(t, f, 4); got[3] != `{"type":"pong","id":"again"}` {
		t.Fatalf("after recovery: %s", got[3])
	}
}

func TestClosedDropsPendingAndRegistry(t *testing.T) {
	r, _ := newTestRouter(t, Options{Workers: 1, Queue: 100})
	started, release := make(chan struct{}), make(chan struct{})
	r.Handle("block", func(c *Context) error {
		close(started)
		<-release
		return nil
	})
	blocker := r.Open(&fakeConn{})
	r.Dispatch(blocker, codec.OpText, []byte(`{"type":"block"}`))
	<-started
	f := &fakeConn{ip: netip.MustParseAddr("::1")}
	s := r.Open(f)
	if got, ok := r.Registry().Get(s.ID()); !ok || got != s {
		t.Fatal("session not registered")
	}
	if s.RemoteIP() != netip.MustParseAddr("::1") || s.ConnectedAt().IsZero() {
		t.Fatal("session identity fields wrong")
	}
	for range 5 {
		r.Dispatch(s, codec.OpText, []byte(`{"type":"ping"}`))
	}
	if r.Queued() != 6 {
		t.Fatalf("Queued() = %d, want 6", r.Queued())
	}
	r.Closed(s)
	r.Closed(s) // idempotent
	if r.Queued() != 1 {
		t.Fatalf("Queued() = %d after Closed, want 1", r.Queued())
	}
	if _, ok := r.Registry().Get(s.ID()); ok || r.Registry().Len() != 1 {
		t.Fatal("closed session still registered")
	}
	r.Dispatch(s, codec.OpText, []byte(`{"type":"ping"}`)) // late message from the loop
	close(release)
	waitFor(t, "queue to empty", func() bool { return r.Queued() == 0 })
	if got := f.replies(); len(got) != 0 {
		t.Fatalf("closed session got replies %q", got)
	}
}

func TestSessionMetadataConcurrent(t *testing.T) {
	r := New(Options{Workers: 1})
	defer r.Close()
	s := r.Open(&fakeConn{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				s.Set(fmt.Sprint(i), j)
				s.Get(fmt.Sprint((i + 1) % 8))
			}
		}()
	}
	wg.Wait()
	if v, ok := s.Get("3"); !ok || v.(int) != 99 {
		t.Fatalf("Get = %v %v", v, ok)
	}
	s.Delete("3")
	if _, ok := s.Get("3"); ok {
		t.Fatal("Delete kept the value")
	}
}

func TestCloseWaitsForRunningHandler(t *testing.T) {
	r := New(Options{Workers: 1})
	started, release := make(chan struct{}), make(chan struct{})
	var finished bool
	r.Handle("slow", func(c *Context) error {
		close(started)
		<-release
		finished = true
		return nil
	})
	s := r.Open(&fakeConn{})
	r.Dispatch(s, codec.OpText, []byte(`{"type":"slow"}`))
	r.Dispatch(s, codec.OpText, []byte(`{"type":"slow"}`)) // still queued at Close: dropped
	<-started
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	select {
	case <-done:
		t.Fatal("Close returned while a handler was running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-done
	if !finished {
		t.Fatal("handler did not finish")
	}
	if r.Queued() != 0 {
		t.Fatalf("Queued() = %d after Close", r.Queued())
	}
	r.Dispatch(s, codec.OpText, []byte(`{"type":"ping"}`)) // after Close: dropped, no panic
}

func TestRegistry(t *testing.T) {
	r := New(Options{Workers: 1})
	defer r.Close()
	ids := map[uint64]bool{}
	var ss []*Session
	for range 100 {
		s := r.Open(&fakeConn{})
		if ids[s.ID()] {
			t.Fatalf("id %d reused", s.ID())
		}
		ids[s.ID()] = true
		ss = append(ss, s)
	}
	r.Closed(ss[10])
	if n := r.Registry().Len(); n != 99 {
		t.Fatalf("Len = %d, want 99", n)
	}
	seen := 0
	r.Registry().Range(func(s *Session) bool {
		if s == ss[10] {
			t.Fatal("Range visited a closed session")
		}
		seen++
		return true
	})
	if seen != 99 {
		t.Fatalf("Range visited %d", seen)
	}
	stopped := 0
	r.Registry().Range(func(*Session) bool { stopped++; return stopped < 5 })
	if stopped != 5 {
		t.Fatalf("Range did not stop: %d", stopped)
	}
}
