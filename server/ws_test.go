package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

// TestWSBuiltins sends every built-in type over /ws with each client and requires the exact
// reply bytes of the README's protocol tables: ids echoed verbatim, echo data as sent.
func TestWSBuiltins(t *testing.T) {
	long := strings.Repeat("c", routing.MaxChannelLen)
	tests := []struct {
		name string
		in   string
		want []string // every reply, in order
	}{
		{"ping", `{"type":"ping","id":"p1"}`, []string{`{"type":"pong","id":"p1"}`}},
		{"ping without id", `{"type":"ping"}`, []string{`{"type":"pong"}`}},
		{"ping null id", `{"type":"ping","id":null}`, []string{`{"type":"pong"}`}},
		{"ping spaces and extra fields", " \t{ \"extra\" : [1,{\"type\":\"x\"}], \"id\" : \"p2\" , \"type\" : \"ping\" }\n",
			[]string{`{"type":"pong","id":"p2"}`}},
		{"ping escaped id verbatim", `{"type":"ping","id":"a\"b\\c\u00e9\n"}`, []string{`{"type":"pong","id":"a\"b\\c\u00e9\n"}`}},
		{"ping escaped type", `{"type":"p\u0069ng","id":"p3"}`, []string{`{"type":"pong","id":"p3"}`}},
		{"echo object", `{"type":"echo","id":"e1","data":{"a":1,"b":{"c":[true,false,null]},"s":"x"}}`,
			[]string{`{"type":"echo","id":"e1","data":{"a":1,"b":{"c":[true,false,null]},"s":"x"}}`}},
		{"echo object inner spaces kept", `{"type":"echo","id":"e2","data": { "a" : [ 1 , 2 ] } }`,
			[]string{`{"type":"echo","id":"e2","data":{ "a" : [ 1 , 2 ] }}`}},
		{"echo array", `{"type":"echo","id":"e3","data":[1,"two",3.5,[],{},[[null]]]}`,
			[]string{`{"type":"echo","id":"e3","data":[1,"two",3.5,[],{},[[null]]]}`}},
		{"echo string with escapes", `{"type":"echo","id":"e4","data":"l1\nl2\t\"q\" \\ \/ \u00e9 \ud83d\ude00 \u0000"}`,
			[]string{`{"type":"echo","id":"e4","data":"l1\nl2\t\"q\" \\ \/ \u00e9 \ud83d\ude00 \u0000"}`}},
		{"echo raw UTF-8", `{"type":"echo","id":"e5","data":"héllo ☺ 😀"}`, []string{`{"type":"echo","id":"e5","data":"héllo ☺ 😀"}`}},
		{"echo negative exponent number", `{"type":"echo","id":"e6","data":-12.5e+3}`, []string{`{"type":"echo","id":"e6","data":-12.5e+3}`}},
		{"echo zero", `{"type":"echo","id":"e7","data":0}`, []string{`{"type":"echo","id":"e7","data":0}`}},
		{"echo big number", `{"type":"echo","id":"e8","data":12345678901234567890123E-7}`, []string{`{"type":"echo","id":"e8","data":12345678901234567890123E-7}`}},
		{"echo null", `{"type":"echo","id":"e9","data":null}`, []string{`{"type":"echo","id":"e9","data":null}`}},
		{"echo true", `{"type":"echo","data":true,"id":"e10"}`, []string{`{"type":"echo","id":"e10","data":true}`}},
		{"echo without data", `{"type":"echo","id":"e11"}`, []string{`{"type":"echo","id":"e11"}`}},
		{"echo data twice: last wins", `{"type":"echo","id":"e12","data":1,"data":[2]}`, []string{`{"type":"echo","id":"e12","data":[2]}`}},
		{"subscribe", `{"type":"subscribe","id":"s1","channel":"room:1"}`, []string{`{"type":"ack","id":"s1"}`}},
		{"subscribe again", `{"type":"subscribe","id":"s2","channel":"room:1"}`, []string{`{"type":"ack","id":"s2"}`}},
		{"subscribe longest name", `{"type":"subscribe","id":"s3","channel":"` + long + `"}`, []string{`{"type":"ack","id":"s3"}`}},
		{"subscribe every allowed byte", `{"type":"subscribe","id":"s4","channel":"AZaz09_.:-"}`, []string{`{"type":"ack","id":"s4"}`}},
		{"publish to own channel: message, then ack", `{"type":"publish","id":"b1","channel":"room:1","data":{"t":"hi \"you\""}}`,
			[]string{`{"type":"message","channel":"room:1","data":{"t":"hi \"you\""}}`, `{"type":"ack","id":"b1"}`}},
		{"publish without data", `{"type":"publish","id":"b2","channel":"room:1"}`,
			[]string{`{"type":"message","channel":"room:1"}`, `{"type":"ack","id":"b2"}`}},
		{"publish to nobody", `{"type":"publish","id":"b3","channel":"empty","data":1}`, []string{`{"type":"ack","id":"b3"}`}},
		{"unsubscribe", `{"type":"unsubscribe","id":"u1","channel":"room:1"}`, []string{`{"type":"ack","id":"u1"}`}},
		{"publish after unsubscribe", `{"type":"publish","id":"b4","channel":"room:1","data":2}`, []string{`{"type":"ack","id":"b4"}`}},
		{"unsubscribe when not subscribed", `{"type":"unsubscribe","id":"u2","channel":"never"}`, []string{`{"type":"ack","id":"u2"}`}},
	}
	s := startServer(t, testOptions())
	for _, d := range wsDialers {
		t.Run(d.name, func(t *testing.T) {
			// One connection for the whole table: every reply arrives on a connection that
			// already served the cases before it.
			c := d.dial(t, s)
			for _, tc := range tests {
				c.send(t, tc.in)
				for _, want := range tc.want {
					if got := c.recv(t); string(got) != want {
						t.Fatalf("%s: %s\ngot  %s\nwant %s", tc.name, tc.in, got, want)
					}
				}
			}
			expectIdle(t, c, "end")
		})
	}
}

// TestWSErrorCodes sends every kind of bad message and requires the error code, the id echoed
// when the request had a string id, a non-empty message, and an open connection afterwards.
func TestWSErrorCodes(t *testing.T) {
	const (
		invJSON = string(routing.CodeInvalidJSON)
		invMsg  = string(routing.CodeInvalidMessage)
		unknown = string(routing.CodeUnknownType)
	)
	long := strings.Repeat("c", routing.MaxChannelLen+1)
	tests := []struct {
		name, in, code, id string // id: the raw token echoed, "" for none
	}{
		{"garbage", `hello there`, invJSON, ""},
		{"braces", `{{{{`, invJSON, ""},
		{"empty message", ``, invJSON, ""},
		{"only spaces", "  \n ", invJSON, ""},
		{"truncated after id", `{"type":"ping","id":"j1"`, invJSON, `"j1"`},
		{"truncated inside data", `{"type":"echo","id":"j2","data":[1,2`, invJSON, `"j2"`},
		{"truncated string", `{"type":"ping","id":"j3`, invJSON, ""},
		{"trailing garbage", `{"type":"ping","id":"j4"} x`, invJSON, `"j4"`},
		{"two documents", `{"type":"ping","id":"j5"}{"type":"ping"}`, invJSON, `"j5"`},
		{"single quotes", `{'type':'ping'}`, invJSON, ""},
		{"bad literal", `{"type":"echo","id":"j6","data":tru}`, invJSON, `"j6"`},
		{"bad escape", `{"type":"echo","id":"j7","data":"\x"}`, invJSON, `"j7"`},
		{"leading zero", `{"type":"echo","id":"j8","data":01}`, invJSON, `"j8"`},
		// A JSON array (or any non-object) is well-formed JSON, so routing answers it
		// INVALID_MESSAGE ("message must be a JSON object"), not INVALID_JSON.
		{"JSON array", `[{"type":"ping","id":"a1"}]`, invMsg, ""},
		{"JSON string", `"ping"`, invMsg, ""},
		{"JSON null", `null`, invMsg, ""},
		{"missing type", `{"id":"m1"}`, invMsg, `"m1"`},
		{"empty object", `{}`, invMsg, ""},
		{"empty type", `{"type":"","id":"m2"}`, invMsg, `"m2"`},
		{"number type", `{"type":42,"id":"m3"}`, invMsg, `"m3"`},
		{"null type", `{"type":null,"id":"m4"}`, invMsg, `"m4"`},
		{"object type", `{"type":{"v":"ping"},"id":"m5"}`, invMsg, `"m5"`},
		{"number id", `{"type":"ping","id":7}`, invMsg, ""},
		{"object id", `{"type":"ping","id":{"a":"b"}}`, invMsg, ""},
		{"subscribe without channel", `{"type":"subscribe","id":"c1"}`, invMsg, `"c1"`},
		{"subscribe null channel", `{"type":"subscribe","id":"c2","channel":null}`, invMsg, `"c2"`},
		{"unsubscribe without channel", `{"type":"unsubscribe","id":"c3"}`, invMsg, `"c3"`},
		{"publish without channel", `{"type":"publish","id":"c4","data":1}`, invMsg, `"c4"`},
		{"channel with a space", `{"type":"subscribe","id":"c5","channel":"a b"}`, invMsg, `"c5"`},
		{"channel with a slash", `{"type":"subscribe","id":"c6","channel":"room/1"}`, invMsg, `"c6"`},
		{"empty channel", `{"type":"subscribe","id":"c7","channel":""}`, invMsg, `"c7"`},
		{"channel too long", `{"type":"subscribe","id":"c8","channel":"` + long + `"}`, invMsg, `"c8"`},
		{"non-ASCII channel", `{"type":"publish","id":"c9","channel":"caf\u00e9","data":1}`, invMsg, `"c9"`},
		{"number channel", `{"type":"publish","id":"c10","channel":5,"data":1}`, invMsg, `"c10"`},
		{"bad channel on ping", `{"type":"ping","id":"c11","channel":"a b"}`, invMsg, `"c11"`},
		{"unknown type", `{"type":"nope","id":"u1"}`, unknown, `"u1"`},
		{"type is case-sensitive", `{"type":"PING","id":"u2"}`, unknown, `"u2"`},
		{"unknown type without id", `{"type":"pong"}`, unknown, ""},
		{"unknown type, bad channel", `{"type":"nope","id":"u3","channel":"a b"}`, unknown, `"u3"`},
	}
	s := startServer(t, testOptions())
	for _, d := range wsDialers {
		t.Run(d.name, func(t *testing.T) {
			c := d.dial(t, s)
			for i, tc := range tests {
				c.send(t, tc.in)
				if err := checkError(c.recv(t), tc.code, tc.id); err != nil {
					t.Errorf("%s: %s: %v", tc.name, tc.in, err)
				}
				// The connection stays open and usable after every error.
				expectIdle(t, c, "after-"+strconv.Itoa(i))
			}
		})
	}
}

// TestWSRateLimited: over -msg-rate the message is answered RATE_LIMITED with its id, and the
// connection stays usable once tokens are back.
func TestWSRateLimited(t *testing.T) {
	o := testOptions()
	o.MsgRate = 2 // a token every 500ms
	o.MsgBurst = 3
	s := startServer(t, o)
	c := dialGorilla(t, wsURL(s, "/ws"))
	// Four messages back to back: the burst passes, the fourth is refused (its refill is 500ms
	// away, far longer than sending four frames takes).
	for i := range 4 {
		c.send(t, `{"type":"ping","id":"r`+strconv.Itoa(i)+`"}`)
	}
	pongs := map[string]bool{}
	var limited [][]byte
	for range 4 {
		p := c.recv(t)
		var r wsReply
		if err := json.Unmarshal(p, &r); err != nil {
			t.Fatalf("reply %s: %v", p, err)
		}
		if r.Type == "pong" {
			pongs[string(r.ID)] = true
			continue
		}
		limited = append(limited, p)
	}
	if len(pongs) != 3 || len(limited) != 1 {
		t.Fatalf("burst 3, 4 sent: pongs %v, refused %q", pongs, limited)
	}
	if err := checkError(limited[0], string(routing.CodeRateLimited), `"r3"`); err != nil {
		t.Errorf("RATE_LIMITED reply: %v", err)
	}
	time.Sleep(600 * time.Millisecond)
	expectIdle(t, c, "later")
}

// slowServer runs a server with one worker and a queue of two, plus a "slow" type whose handler
// blocks until release is closed (closed at cleanup too, before the server stops).
func slowServer(t *testing.T) (s *Server, started chan string, release func()) {
	t.Helper()
	o := testOptions()
	o.Workers = 1
	o.Queue = 2
	s = startServer(t, o)
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release) // runs before the server's Close, which waits for the worker
	started = make(chan string, 8)
	s.Router().Handle("slow", func(c *routing.Context) error {
		started <- string(c.ID())
		<-gate
		return c.Reply("slow", nil)
	})
	return s, started, release
}

// TestOverloaded fills the worker queue with blocked handlers: the next message, from any
// connection, is answered OVERLOADED with its id: at once on a connection with nothing in
// flight, after its earlier replies on the one whose messages fill the queue. After the release
// every accepted message is answered and the connections work.
func TestOverloaded(t *testing.T) {
	s, started, release := slowServer(t)
	a := dialGorilla(t, wsURL(s, "/ws"))
	b := dialCoder(t, wsURL(s, "/ws"))
	// One write: the loop dispatches them in order, so s1 (running) and s2 (queued) hold the
	// two places before p3 arrives, whatever the worker is doing.
	r := dialRaw(t, s, "/ws")
	r.send(msgFrame(codec.OpText, true, `{"type":"slow","id":"s1"}`),
		msgFrame(codec.OpText, true, `{"type":"slow","id":"s2"}`),
		msgFrame(codec.OpText, true, `{"type":"ping","id":"p3"}`))
	raw := rawWS{r}
	select {
	case id := <-started:
		if id != `"s1"` {
			t.Fatalf("the worker runs %s, want s1", id)
		}
	case <-time.After(wsTimeout):
		t.Fatal("the slow handler never started")
	}
	// The queue bound is global: other connections are refused too while it is full.
	a.send(t, `{"type":"echo","id":"a1","data":[1]}`)
	if err := checkError(a.recv(t), string(routing.CodeOverloaded), `"a1"`); err != nil {
		t.Fatalf("other connection while full: %v", err)
	}
	b.send(t, `not even JSON`)
	if err := checkError(b.recv(t), string(routing.CodeOverloaded), ""); err != nil {
		t.Fatalf("garbage while full: %v", err)
	}

	release()
	// p3's refusal keeps its place: after the replies to s1 and s2.
	expectMsg(t, raw, `{"type":"slow","id":"s1"}`)
	expectMsg(t, raw, `{"type":"slow","id":"s2"}`)
	if err := checkError(raw.recv(t), string(routing.CodeOverloaded), `"p3"`); err != nil {
		t.Fatalf("third message with queue 2: %v", err)
	}
	expectIdle(t, raw, "r-after")
	expectIdle(t, a, "a-after")
	exchange(t, b, `{"type":"echo","id":"b-after","data":"ok"}`, `{"type":"echo","id":"b-after","data":"ok"}`)
	if q := s.Router().Queued(); q != 0 {
		t.Fatalf("queue holds %d messages after every reply", q)
	}
}

// TestPanicHandler: a handler that panics (or fails) is answered INTERNAL with the request id
// and a generic message; the single worker, the connection and the server live on.
func TestPanicHandler(t *testing.T) {
	o := testOptions()
	o.Workers = 1 // the next message proves the only worker survived
	s := startServer(t, o)
	s.Router().Handle("boom", func(c *routing.Context) error { panic("secret: db password hunter2") })
	s.Router().Handle("fail", func(c *routing.Context) error { return errors.New("secret: disk on fire") })
	for _, d := range wsDialers {
		t.Run(d.name, func(t *testing.T) {
			c := d.dial(t, s)
			for i, typ := range []string{"boom", "fail", "boom"} {
				id := `"` + typ + strconv.Itoa(i) + `"`
				c.send(t, `{"type":"`+typ+`","id":`+id+`}`)
				p := c.recv(t)
				if err := checkError(p, string(routing.CodeInternal), id); err != nil {
					t.Fatalf("%s: %v", typ, err)
				}
				if strings.Contains(string(p), "secret") {
					t.Fatalf("INTERNAL reply leaks the failure: %s", p)
				}
				expectIdle(t, c, "after-"+typ+strconv.Itoa(i))
			}
		})
	}
	// A new connection is served as well.
	expectIdle(t, dialCoder(t, wsURL(s, "/ws")), "fresh")
}

// TestWSBinaryCloses1003: a binary message on /ws closes the connection with 1003, after the
// replies to what came before it.
func TestWSBinaryCloses1003(t *testing.T) {
	s := startServer(t, testOptions())
	t.Run("raw", func(t *testing.T) {
		r := dialRaw(t, s, "/ws")
		r.send(msgFrame(codec.OpText, true, `{"type":"ping","id":"1"}`), msgFrame(codec.OpBinary, true, `{"type":"ping","id":"2"}`))
		// The pong of the first message may or may not win the race with the close; nothing
		// may answer the binary one.
		for {
			f, err := r.nextFrame(wsTimeout)
			if err != nil {
				t.Fatalf("want close 1003: %v", err)
			}
			if f.op == codec.OpClose {
				if closeCode(f) != codec.CloseUnsupportedData {
					t.Fatalf("close %d %q, want 1003", closeCode(f), f.payload)
				}
				break
			}
			if string(f.payload) != `{"type":"pong","id":"1"}` {
				t.Fatalf("unexpected frame before the close: op %d %q", f.op, f.payload)
			}
		}
		r.expectEOF()
	})
	t.Run("fragmented binary", func(t *testing.T) {
		r := dialRaw(t, s, "/ws")
		r.send(msgFrame(codec.OpBinary, false, `{"type":`), msgFrame(codec.OpContinuation, true, `"ping"}`))
		r.expectClose(codec.CloseUnsupportedData)
	})
	t.Run("gorilla", func(t *testing.T) {
		g := dialGorilla(t, wsURL(s, "/ws"))
		expectIdle(t, g, "before")
		if err := g.c.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		_ = g.c.SetReadDeadline(time.Now().Add(wsTimeout))
		_, p, err := g.c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseUnsupportedData {
			t.Fatalf("want close 1003, got %q %v", p, err)
		}
	})
	waitFor(t, 5*time.Second, "the closed connections released", func() bool { return s.Connections() == 0 })
}

// TestOrderPerConnection: several connections pipeline 500 echo messages each while the workers
// serve them all in parallel; every connection gets its replies in the order it sent them.
func TestOrderPerConnection(t *testing.T) {
	const conns, msgs = 8, 500 // 4,000 in flight at most: within the default queue of 4,096
	o := testOptions()
	// Deep pipelines on purpose: no per-connection share (its own test is TestFairShare).
	o.QueuePerConn = 0
	s := startServer(t, o)
	errs := make(chan error, 2*conns)
	var wg sync.WaitGroup
	for k := range conns {
		var c wsClient
		if k%2 == 0 {
			c = dialGorilla(t, wsURL(s, "/ws"))
		} else {
			c = dialCoder(t, wsURL(s, "/ws"))
		}
		wg.Add(2)
		go func() { // writer: no waiting for replies
			defer wg.Done()
			if err := writeAll(c, k, msgs); err != nil {
				errs <- err
			}
		}()
		go func() { // reader
			defer wg.Done()
			for i := range msgs {
				p, err := readText(c)
				if err != nil {
					errs <- fmt.Errorf("conn %d (%s), reply %d: %w", k, c.name(), i, err)
					return
				}
				want := fmt.Sprintf(`{"type":"echo","id":"c%d-%d","data":[%d,%d]}`, k, i, k, i)
				if string(p) != want {
					errs <- fmt.Errorf("conn %d (%s), reply %d out of order: got %s, want %s", k, c.name(), i, p, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// writeAll and readText are the goroutine-safe halves of the clients (no testing.T calls).
func writeAll(c wsClient, k, n int) error {
	for i := range n {
		msg := fmt.Sprintf(`{"type":"echo","id":"c%d-%d","data":[%d,%d]}`, k, i, k, i)
		var err error
		switch c := c.(type) {
		case *gorillaClient:
			_ = c.c.SetWriteDeadline(time.Now().Add(wsTimeout))
			err = c.c.WriteMessage(websocket.TextMessage, []byte(msg))
		case *coderClient:
			err = coderWrite(c, msg)
		}
		if err != nil {
			return fmt.Errorf("conn %d write %d: %w", k, i, err)
		}
	}
	return nil
}

func readText(c wsClient) ([]byte, error) {
	switch c := c.(type) {
	case *gorillaClient:
		_ = c.c.SetReadDeadline(time.Now().Add(wsTimeout))
		op, p, err := c.c.ReadMessage()
		if err == nil && op != websocket.TextMessage {
			err = fmt.Errorf("message type %d", op)
		}
		return p, err
	case *coderClient:
		return coderRead(c)
	}
	return nil, fmt.Errorf("no goroutine-safe reader for %s", c.name())
}

// TestSubscribeUnsubscribeStops: a double subscribe still delivers once; after unsubscribe
// nothing more arrives, while the other subscriber keeps receiving; subscribing again resumes.
func TestSubscribeUnsubscribeStops(t *testing.T) {
	s := startServer(t, testOptions())
	a := dialGorilla(t, wsURL(s, "/ws"))
	b := dialCoder(t, wsURL(s, "/ws"))
	pub := rawWS{dialRaw(t, s, "/ws")}
	exchange(t, a, `{"type":"subscribe","id":"a1","channel":"news"}`, `{"type":"ack","id":"a1"}`)
	exchange(t, a, `{"type":"subscribe","id":"a2","channel":"news"}`, `{"type":"ack","id":"a2"}`)
	exchange(t, b, `{"type":"subscribe","id":"b1","channel":"news"}`, `{"type":"ack","id":"b1"}`)
	if n := s.Router().Hub().Subscribers("news"); n != 2 {
		t.Fatalf("hub counts %d subscribers, want 2", n)
	}
	publish := func(n int) {
		t.Helper()
		id := "p" + strconv.Itoa(n)
		exchange(t, pub, `{"type":"publish","id":"`+id+`","channel":"news","data":{"n":`+strconv.Itoa(n)+`}}`, `{"type":"ack","id":"`+id+`"}`)
	}
	msg := func(n int) string { return `{"type":"message","channel":"news","data":{"n":` + strconv.Itoa(n) + `}}` }

	publish(1)
	expectMsg(t, a, msg(1))
	expectIdle(t, a, "a-once") // subscribed twice, delivered once
	expectMsg(t, b, msg(1))

	exchange(t, a, `{"type":"unsubscribe","id":"a3","channel":"news"}`, `{"type":"ack","id":"a3"}`)
	publish(2)
	// The ack to the publisher comes after the frame was queued to every subscriber, so a
	// message for a would now be ahead of its pong.
	expectIdle(t, a, "a-none")
	expectMsg(t, b, msg(2))
	expectIdle(t, pub, "pub-none") // the publisher is no subscriber

	exchange(t, a, `{"type":"unsubscribe","id":"a4","channel":"news"}`, `{"type":"ack","id":"a4"}`)
	exchange(t, a, `{"type":"subscribe","id":"a5","channel":"news"}`, `{"type":"ack","id":"a5"}`)
	publish(3)
	expectMsg(t, a, msg(3))
	expectMsg(t, b, msg(3))
	expectIdle(t, a, "a-end")
	expectIdle(t, b, "b-end")
}

// TestPublishSubscriberLeaves: a subscriber that closes cleanly, and one that vanishes with a
// TCP reset, stop receiving; the others and the publisher are not disturbed, even by publishes
// that race with the close and the reset.
func TestPublishSubscriberLeaves(t *testing.T) {
	s := startServer(t, testOptions())
	url := wsURL(s, "/ws")
	closer := dialRaw(t, s, "/ws")
	vanisher := dialRaw(t, s, "/ws")
	stay := []wsClient{dialCoder(t, url), dialGorilla(t, url), rawWS{dialRaw(t, s, "/ws")}}
	pub := dialCoder(t, url)
	for i, c := range append([]wsClient{rawWS{closer}, rawWS{vanisher}}, stay...) {
		id := "s" + strconv.Itoa(i)
		exchange(t, c, `{"type":"subscribe","id":"`+id+`","channel":"room"}`, `{"type":"ack","id":"`+id+`"}`)
	}
	publish := func(n int) {
		t.Helper()
		id := "p" + strconv.Itoa(n)
		exchange(t, pub, `{"type":"publish","id":"`+id+`","channel":"room","data":`+strconv.Itoa(n)+`}`, `{"type":"ack","id":"`+id+`"}`)
		for _, c := range stay {
			expectMsg(t, c, `{"type":"message","channel":"room","data":`+strconv.Itoa(n)+`}`)
		}
	}
	publish(1)
	expectMsg(t, rawWS{closer}, `{"type":"message","channel":"room","data":1}`)

	// Clean close, and a publish racing with it: the message may come before the server's close
	// frame, never after it (expectClose requires the TCP end right after the close frame).
	closer.send(frame(true, 0, codec.OpClose, true, closePayload(1000, "bye")))
	publish(2)
	closer.expectClose(codec.CloseNormal)
	closer.conn.Close()
	waitFor(t, 5*time.Second, "the closed subscriber leaves the channel", func() bool {
		return s.Router().Hub().Subscribers("room") == 4
	})
	publish(3)

	// Abrupt end: a reset, and a publish at once, before the server may have noticed.
	abort(t, vanisher.conn)
	publish(4)
	waitFor(t, 5*time.Second, "the vanished subscriber leaves the channel", func() bool {
		return s.Router().Hub().Subscribers("room") == 3
	})
	publish(5)
	for i, c := range stay {
		expectIdle(t, c, "stay-"+strconv.Itoa(i)) // each message exactly once
	}
	waitFor(t, 5*time.Second, "the two leavers released", func() bool { return s.Connections() == 4 })
}

// TestPublishSlowSubscriber: a subscriber that stops reading fills its kernel buffers, then its
// small write queue, and is dropped as a slow consumer; the publisher and the subscribers that
// read keep getting every message, in order.
func TestPublishSlowSubscriber(t *testing.T) {
	o := testOptions()
	o.WriteQueue = 32 << 10
	o.WriteTimeout = 0 // only the queue bound may drop the subscriber
	s := startServer(t, o)
	url := wsURL(s, "/ws")
	slow := dialRawRcvBuf(t, s, "/ws", 4096)
	slowWS := rawWS{slow}
	exchange(t, slowWS, `{"type":"subscribe","id":"slow","channel":"feed"}`, `{"type":"ack","id":"slow"}`)
	fast := []wsClient{dialGorilla(t, url), dialCoder(t, url)}
	for i, c := range fast {
		exchange(t, c, `{"type":"subscribe","id":"f`+strconv.Itoa(i)+`","channel":"feed"}`, `{"type":"ack","id":"f`+strconv.Itoa(i)+`"}`)
	}
	pub := dialGorilla(t, url)

	// Each fast subscriber reads in its own goroutine until the end marker (seq -1).
	type result struct {
		seqs []int
		err  error
	}
	results := make(chan result, len(fast))
	read := make([]atomic.Int64, len(fast)) // messages each fast subscriber has read
	for k, c := range fast {
		go func() {
			var r result
			for {
				p, err := readText(c)
				if err != nil {
					r.err = fmt.Errorf("%s after %d messages: %w", c.name(), len(r.seqs), err)
					break
				}
				var m struct {
					Type, Channel string
					Data          struct{ Seq int }
				}
				if err := json.Unmarshal(p, &m); err != nil || m.Type != "message" || m.Channel != "feed" {
					r.err = fmt.Errorf("%s: unexpected %.80s (%v)", c.name(), p, err)
					break
				}
				if m.Data.Seq < 0 {
					break
				}
				r.seqs = append(r.seqs, m.Data.Seq)
				read[k].Add(1)
			}
			results <- r
		}()
	}

	pad := strings.Repeat("x", 4000)
	seq := 0
	// batch publishes 16 messages of 4 KB pipelined, then waits for their 16 acks. It starts
	// only when the fast subscribers have read all but the last 4 batches, so they never hold
	// more than 320 KB unread, far below their kernel buffers: only the slow one can fill up.
	batch := func() {
		t.Helper()
		for k := range fast {
			waitFor(t, wsTimeout, "a fast subscriber reads", func() bool { return read[k].Load() >= int64(seq-64) })
		}
		for range 16 {
			pub.send(t, `{"type":"publish","id":"`+strconv.Itoa(seq)+`","channel":"feed","data":{"seq":`+strconv.Itoa(seq)+`,"pad":"`+pad+`"}}`)
			seq++
		}
		for i := seq - 16; i < seq; i++ {
			expectMsg(t, pub, `{"type":"ack","id":"`+strconv.Itoa(i)+`"}`)
		}
	}
	const maxBytes = 64 << 20 // a generous cap; dropping takes some 100 KB of kernel buffers
	for s.Router().Hub().Subscribers("feed") == 3 {
		if seq*4000 > maxBytes {
			t.Fatalf("the subscriber that does not read was not dropped after %d MB", maxBytes>>20)
		}
		batch()
	}
	dropped := seq
	for range 4 { // the survivors keep getting everything after the drop too
		batch()
	}
	pub.send(t, `{"type":"publish","id":"end","channel":"feed","data":{"seq":-1}}`)
	expectMsg(t, pub, `{"type":"ack","id":"end"}`)

	for range fast {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.seqs) != seq {
			t.Fatalf("a fast subscriber got %d messages, want %d", len(r.seqs), seq)
		}
		for i, n := range r.seqs {
			if n != i {
				t.Fatalf("a fast subscriber got seq %d at position %d", n, i)
			}
		}
	}
	// The slow one's connection ends (after whatever its buffers still held).
	expectTCPEnd(t, slow.conn, wsTimeout)
	if n := s.Router().Hub().Subscribers("feed"); n != 2 {
		t.Fatalf("%d subscribers left, want the 2 fast ones", n)
	}
	if n := counterValue(t, s.Metrics().SlowConsumers); n != 1 {
		t.Fatalf("slow consumers counted: %v, want 1", n)
	}
	t.Logf("slow subscriber dropped after %d messages of 4 KB; %d published", dropped, seq)
}

// TestPublishTenThousandSubscribers: one publish reaches each of 10,000 subscribers exactly
// once. The server runs in a child process (file descriptors); the subscribers are bare sockets
// in this process, driven without a goroutine each (the race detector's goroutine limit).
func TestPublishTenThousandSubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 10,000 sockets; skipped in -short mode")
	}
	const subs, dialers = 10000, 16
	addr, _, stop := startChildWith(t, "")
	conns := make([]net.Conn, subs)
	// The server closes first, so that the TIME_WAIT states stay on its listening port rather
	// than on 10,000 of our ephemeral ports.
	defer func() {
		stop()
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, dialers)
	for d := range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := d; i < subs; i += dialers {
				c, err := rawSubscribe(addr, "fan.out", strconv.Itoa(i))
				if err != nil {
					errs <- fmt.Errorf("subscriber %d: %w", i, err)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if h := childHealth(t, addr); h.Connections != subs {
		t.Fatalf("child reports %d connections, want %d", h.Connections, subs)
	}

	pub := dialGorilla(t, "ws://"+addr+"/ws")
	exchange(t, pub, `{"type":"publish","id":"once","channel":"fan.out","data":{"to":"everyone","n":[1,2,3]}}`, `{"type":"ack","id":"once"}`)
	want := wsFrameTo(`{"type":"message","channel":"fan.out","data":{"to":"everyone","n":[1,2,3]}}`)
	got := make([]byte, len(want))
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(wsTimeout))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		if string(got) != string(want) {
			t.Fatalf("subscriber %d got %q, want %q", i, got, want)
		}
	}
	// Exactly once: after a grace period no subscriber has a single further byte.
	time.Sleep(200 * time.Millisecond)
	for i, c := range conns {
		if n, err := pendingBytes(c); n != 0 || err != nil {
			t.Fatalf("subscriber %d: %d more bytes (%v) after its one message", i, n, err)
		}
	}
	expectIdle(t, pub, "after") // and the publisher got nothing but its ack
}
