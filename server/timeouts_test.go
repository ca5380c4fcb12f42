package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/codec"
)

// These tests drive the timer wheel over real loopback sockets with
// millisecond timeouts. Timing checks are bands (0.8x to 5x a timeout) that
// only tell "on its timer" from "at once" and "never".

// TestPingHeartbeat: a silent client gets a ping every -ping-interval with
// the server clock in an 8-byte payload; pongs echoing it are counted and
// timed, other pongs are counted only.
func TestPingHeartbeat(t *testing.T) {
	const interval = 100 * time.Millisecond
	o := timeoutOptions()
	o.PingInterval = interval
	mark := time.Now() // before the server clock starts
	s := startServer(t, o)
	expectNoLeaks(t, s)
	r := dialRaw(t, s, "/echo")

	nextPing := func() (stamp int64, at time.Time) {
		t.Helper()
		f, err := r.nextFrame(5 * time.Second)
		if err != nil {
			t.Fatalf("waiting for a ping: %v", err)
		}
		if f.op != codec.OpPing || !f.fin || len(f.payload) != 8 {
			t.Fatalf("want a final ping with an 8-byte payload, got op %v fin %v %d bytes", f.op, f.fin, len(f.payload))
		}
		stamp = int64(binary.BigEndian.Uint64(f.payload))
		if stamp <= 0 || stamp > int64(time.Since(mark)) {
			t.Fatalf("ping payload %d is not a reading of the server clock (0, %d]", stamp, time.Since(mark))
		}
		return stamp, time.Now()
	}

	// Silent: pings arrive on their own, at least an interval apart on the
	// server's clock.
	start := time.Now()
	const silent = 4
	var prev int64
	for i := 0; i < silent; i++ {
		stamp, _ := nextPing()
		if i > 0 && stamp-prev < int64(interval) {
			t.Fatalf("ping %d came %v after the previous one, want at least %v", i, time.Duration(stamp-prev), interval)
		}
		prev = stamp
	}
	checkElapsed(t, fmt.Sprintf("%d pings", silent), time.Since(start), silent*interval)
	if got := counterValue(t, s.Metrics().PingsSent); got < silent {
		t.Fatalf("PingsSent = %v, want >= %d", got, silent)
	}
	if got := counterValue(t, s.Metrics().PongsReceived); got != 0 {
		t.Fatalf("PongsReceived = %v before any pong", got)
	}

	// Answering: each pong echoing the ping's payload is counted and timed.
	const answered = 3
	for i := 0; i < answered; i++ {
		stamp, _ := nextPing()
		r.send(frame(true, 0, codec.OpPong, true, binary.BigEndian.AppendUint64(nil, uint64(stamp))))
	}
	waitFor(t, 5*time.Second, "3 pongs counted", func() bool {
		return counterValue(t, s.Metrics().PongsReceived) == answered
	})
	// A pong that comes after the server already sent the next ping (the
	// client stalled for an interval) is not timed, so a loaded machine may
	// time fewer than all three.
	rtts := histogramCount(t, s, "wsedge_ping_rtt_seconds")
	if rtts < 1 || rtts > answered {
		t.Fatalf("ping RTT samples = %d, want 1..%d", rtts, answered)
	}

	// An unsolicited pong (not ours) counts as a pong but is not timed.
	r.send(frame(true, 0, codec.OpPong, true, []byte("12345678")))
	waitFor(t, 5*time.Second, "unsolicited pong counted", func() bool {
		return counterValue(t, s.Metrics().PongsReceived) == answered+1
	})
	if got := histogramCount(t, s, "wsedge_ping_rtt_seconds"); got != rtts {
		t.Fatalf("ping RTT samples = %d after an unsolicited pong, want %d", got, rtts)
	}
	if got := counterValue(t, s.Metrics().PingsSent); got < silent+answered {
		t.Fatalf("PingsSent = %v, want >= %d", got, silent+answered)
	}

	// Still a working echo connection.
	r.send(msgFrame(codec.OpText, true, "after pings"))
	for {
		f, err := r.nextFrame(5 * time.Second)
		if err != nil {
			t.Fatalf("echo after pings: %v", err)
		}
		if f.op == codec.OpPing {
			continue
		}
		if f.op != codec.OpText || string(f.payload) != "after pings" {
			t.Fatalf("echo after pings: op %v %q", f.op, f.payload)
		}
		break
	}
}

// TestIdleKeptAliveByPongs: a client whose only traffic is answering pings
// (gorilla answers them from its read loop) stays open well past
// -idle-timeout, since pongs count as activity.
func TestIdleKeptAliveByPongs(t *testing.T) {
	// The client has idle-ping (450ms) to answer a ping: room for a loaded
	// machine's stalls.
	const idle = 500 * time.Millisecond
	o := timeoutOptions()
	o.PingInterval = 50 * time.Millisecond
	o.IdleTimeout = idle
	s := startServer(t, o)
	expectNoLeaks(t, s)

	c, _, err := websocket.DefaultDialer.Dial(wsURL(s, "/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type msg struct {
		p   []byte
		err error
	}
	msgs := make(chan msg, 4)
	go func() {
		for {
			_, p, err := c.ReadMessage()
			msgs <- msg{p, err}
			if err != nil {
				return
			}
		}
	}()

	hold := 3 * idle
	select {
	case m := <-msgs:
		t.Fatalf("while holding a silent connection: got %q, %v", m.p, m.err)
	case <-time.After(hold):
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("still here")); err != nil {
		t.Fatalf("write after %v: %v", hold, err)
	}
	select {
	case m := <-msgs:
		if m.err != nil || string(m.p) != "still here" {
			t.Fatalf("echo after %v: %q, %v", hold, m.p, m.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no echo")
	}
	if got := timeouts(t, s, "idle"); got != 0 {
		t.Fatalf("idle timeouts = %v", got)
	}
	pongs := counterValue(t, s.Metrics().PongsReceived)
	if pongs < 3 || counterValue(t, s.Metrics().PingsSent) < pongs {
		t.Fatalf("pings sent %v, pongs %v: want at least 3 pongs, each answering a ping",
			counterValue(t, s.Metrics().PingsSent), pongs)
	}
	if got := histogramCount(t, s, "wsedge_ping_rtt_seconds"); got < 3 {
		t.Fatalf("ping RTT samples = %d, want >= 3", got)
	}
}

// TestIdleTimeout: a client that sends nothing, not even pongs, gets a 1001
// close near -idle-timeout and then loses TCP, whether or not it answers
// the close; a client that sends its own pings is not idle.
func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	o := timeoutOptions()
	o.PingInterval = 100 * time.Millisecond
	o.IdleTimeout = idle
	o.CloseTimeout = 500 * time.Millisecond
	closeWait := o.CloseTimeout
	s := startServer(t, o)
	expectNoLeaks(t, s)

	// waitClose reads (ignoring pings) until the close frame and checks when
	// it came.
	waitClose := func(t *testing.T, r *rawClient) {
		t.Helper()
		start := time.Now()
		pings := 0
		for {
			f, err := r.nextFrame(5 * time.Second)
			if err != nil {
				t.Fatalf("want close 1001 after %d pings: %v", pings, err)
			}
			if f.op == codec.OpPing {
				pings++
				continue
			}
			if f.op != codec.OpClose || closeCode(f) != codec.CloseGoingAway {
				t.Fatalf("want close 1001, got op %v payload %q", f.op, f.payload)
			}
			break
		}
		checkElapsed(t, "idle close", time.Since(start), idle)
		if pings == 0 {
			t.Fatal("closed as idle without a ping first")
		}
	}

	t.Run("silent, no close reply", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, s, "/echo")
		waitClose(t, r)
		// Unanswered, the server gives up after -close-timeout.
		start := time.Now()
		expectTCPEnd(t, r.conn, closeWait+5*time.Second)
		checkElapsed(t, "close after an unanswered close", time.Since(start), closeWait)
	})
	t.Run("silent, answers the close", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, s, "/echo")
		waitClose(t, r)
		start := time.Now()
		r.send(frame(true, 0, codec.OpClose, true, closePayload(1001, "")))
		expectTCPEnd(t, r.conn, 5*time.Second)
		// The completed handshake ends TCP at once, not at -close-timeout.
		if d := time.Since(start); d >= closeWait {
			t.Fatalf("TCP closed %v after the close reply, want well before closeWait %v", d, closeWait)
		}
	})
	t.Run("client pings keep it open", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, s, "/echo")
		for i := 0; i < 24; i++ { // 1.2s, 4x idle
			r.send(frame(true, 0, codec.OpPing, true, []byte{byte(i)}))
			for {
				f, err := r.nextFrame(5 * time.Second)
				if err == nil && f.op == codec.OpPing {
					continue // the server's own heartbeat, if we were late
				}
				if err != nil || f.op != codec.OpPong || !bytes.Equal(f.payload, []byte{byte(i)}) {
					t.Fatalf("ping %d: want our pong, got op %v %q, %v", i, f.op, f.payload, err)
				}
				break
			}
			time.Sleep(idle / 6)
		}
	})

	t.Cleanup(func() {
		if got := timeouts(t, s, "idle"); got != 2 {
			t.Errorf("idle timeouts = %v, want 2", got)
		}
		if got := counterValue(t, s.Metrics().Closes.WithLabelValues("1001")); got != 2 {
			t.Errorf("1001 closes = %v, want 2", got)
		}
	})
}

// TestHandshakeTimeout: the whole upgrade request must arrive within
// -handshake-timeout, however it trickles; an upgraded connection is no
// longer subject to it.
func TestHandshakeTimeout(t *testing.T) {
	const hs = 300 * time.Millisecond
	o := timeoutOptions()
	o.HandshakeTimeout = hs
	s := startServer(t, o)
	expectNoLeaks(t, s)

	cases := []struct {
		name string
		send func(c net.Conn, stop <-chan struct{})
	}{
		{"nothing sent", func(net.Conn, <-chan struct{}) {}},
		{"half a request", func(c net.Conn, _ <-chan struct{}) {
			_, _ = io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: x\r\n")
		}},
		{"trickled headers", func(c net.Conn, stop <-chan struct{}) {
			_, _ = io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: x\r\n")
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(hs / 8):
				}
				if _, err := fmt.Fprintf(c, "X-Pad-%d: %d\r\n", i, i); err != nil {
					return
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := rawDial(t, s)
			start := time.Now()
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { defer close(done); tc.send(c, stop) }()
			expectTCPEnd(t, c, 5*hs+5*time.Second)
			close(stop)
			<-done
			checkElapsed(t, "slow handshake closed", time.Since(start), hs)
		})
	}
	t.Run("upgraded outlives it", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, s, "/echo")
		time.Sleep(3 * hs)
		r.send(msgFrame(codec.OpText, true, "late"))
		f, err := r.nextFrame(5 * time.Second)
		if err != nil || f.op != codec.OpText || string(f.payload) != "late" {
			t.Fatalf("echo after %v: op %v %q, %v", 3*hs, f.op, f.payload, err)
		}
	})

	t.Cleanup(func() {
		if got := timeouts(t, s, "handshake"); got != float64(len(cases)) {
			t.Errorf("handshake timeouts = %v, want %d", got, len(cases))
		}
		if got := counterValue(t, s.Metrics().Rejected.WithLabelValues("handshake_timeout")); got != float64(len(cases)) {
			t.Errorf("handshake_timeout refusals = %v, want %d", got, len(cases))
		}
	})
}

// TestReadTimeout: a frame, or a fragmented message, that has started
// arriving must be complete within -read-timeout (close 1008); a slow but
// finishing sender is not cut off, and neither is a fast one whose reads
// happen to end mid-frame.
func TestReadTimeout(t *testing.T) {
	// 600 ms: the slow-but-finishing senders below pause rt/3 or send every
	// 20 ms, and a loaded machine delayed a 100 ms pause past 300 ms once.
	const rt = 600 * time.Millisecond
	o := timeoutOptions()
	o.ReadTimeout = rt
	s := startServer(t, o)
	expectNoLeaks(t, s)

	expectReadTimeout := func(t *testing.T, r *rawClient) {
		t.Helper()
		start := time.Now()
		f, err := r.nextFrame(5*rt + time.Second)
		if err != nil {
			t.Fatalf("want close 1008 for the stalled input: %v", err)
		}
		if f.op != codec.OpClose || closeCode(f) != codec.ClosePolicyViolation {
			t.Fatalf("want close 1008, got op %v payload %q", f.op, f.payload)
		}
		checkElapsed(t, "read timeout", time.Since(start), rt)
		r.expectEOF()
	}
	// header promising 100 masked bytes, and 10 of them
	half := frame(true, 0, codec.OpBinary, true, bytes.Repeat([]byte{'h'}, 100))[:2+4+10]

	t.Run("half a frame", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, s, "/echo")
		r.send(half)
		expectReadTimeout(t, r)
	})
	t.Run("one header byte", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, s, "/echo")
		r.send(half[:1])
		expectReadTimeout(t, r)
	})
	t.Run("fragmented message stalls", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, s, "/echo")
		// A whole first fragment, then nothing: the message has started.
		r.send(msgFrame(codec.OpText, false, "first of many"))
		expectReadTimeout(t, r)
	})
	t.Run("fragments trickle past it", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, s, "/echo")
		// Every fragment is whole, but the message is not done in time.
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			op := codec.OpText
			for {
				if _, err := r.conn.Write(msgFrame(op, false, "more")); err != nil {
					return
				}
				op = codec.OpContinuation
				select {
				case <-stop:
					return
				case <-time.After(rt / 6):
				}
			}
		}()
		defer func() { close(stop); <-done }()
		expectReadTimeout(t, r)
	})
	t.Run("slow frame completes in time", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, s, "/echo")
		full := frame(true, 0, codec.OpBinary, true, bytes.Repeat([]byte{'s'}, 100))
		r.send(full[:16])
		time.Sleep(rt / 3)
		r.send(full[16:])
		f, err := r.nextFrame(5 * time.Second)
		if err != nil || f.op != codec.OpBinary || len(f.payload) != 100 {
			t.Fatalf("echo of the slow frame: op %v %d bytes, %v", f.op, len(f.payload), err)
		}
		// Whole again: silence is not a read timeout.
		time.Sleep(3 * rt)
		r.send(msgFrame(codec.OpText, true, "quiet"))
		f, err = r.nextFrame(5 * time.Second)
		if err != nil || f.op != codec.OpText || string(f.payload) != "quiet" {
			t.Fatalf("echo after silence: op %v %q, %v", f.op, f.payload, err)
		}
	})
	t.Run("steady stream split mid-frame", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, s, "/echo")
		// 16-byte frames (2 header, 4 key, 10 payload) sent as 8 + 16 + ...
		// + 8 bytes, so every write ends in the middle of a frame, but
		// each frame is complete 20ms after it started.
		const frames = 60 // 1.2s, twice the read timeout
		var stream []byte
		for i := 0; i < frames; i++ {
			stream = append(stream, msgFrame(codec.OpText, true, fmt.Sprintf("frame %04d", i))...)
		}
		if len(stream) != 16*frames {
			t.Fatalf("frame size %d", len(stream)/frames)
		}
		got := make(chan error, 1)
		go func() {
			for i := 0; i < frames; i++ {
				f, err := r.nextFrame(5*rt + 5*time.Second)
				if err == nil && (f.op != codec.OpText || string(f.payload) != fmt.Sprintf("frame %04d", i)) {
					err = fmt.Errorf("echo %d: op %v payload %q (close code %d)", i, f.op, f.payload, closeCode(f))
				}
				if err != nil {
					got <- err
					return
				}
			}
			got <- nil
		}()
		for off := 0; off < len(stream); {
			n := min(16, len(stream)-off)
			if off == 0 {
				n = 8
			}
			if _, err := r.conn.Write(stream[off : off+n]); err != nil {
				break // the reader reports why
			}
			off += n
			time.Sleep(20 * time.Millisecond)
		}
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	})

	t.Cleanup(func() {
		if got := timeouts(t, s, "read"); got != 4 {
			t.Errorf("read timeouts = %v, want 4", got)
		}
	})
}

// TestWriteTimeout: a client that stops reading while the server has lots
// to send is closed once its queued data could not be written for
// -write-timeout, before the (large) write queue bound is reached.
func TestWriteTimeout(t *testing.T) {
	const wt = 300 * time.Millisecond
	o := timeoutOptions()
	o.WriteTimeout = wt
	o.WriteQueue = 256 << 20
	o.MaxMessageSize = 1 << 20
	s := startServer(t, o)
	expectNoLeaks(t, s)

	r := dialRawRcvBuf(t, s, "/echo", 4096)
	msg := frame(true, 0, codec.OpBinary, true, bytes.Repeat([]byte{'w'}, 64<<10))
	sent := 0
	deadline := time.Now().Add(10 * time.Second)
	for timeouts(t, s, "write") == 0 && sent < 128<<20 && time.Now().Before(deadline) {
		_ = r.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := r.conn.Write(msg); err != nil {
			break // the server closed on us
		}
		sent += len(msg)
	}
	waitFor(t, 5*time.Second, fmt.Sprintf("write timeout after sending %d bytes unread", sent), func() bool {
		return timeouts(t, s, "write") == 1
	})
	waitAllClosed(t, s)
	if got := counterValue(t, s.Metrics().SlowConsumers); got != 0 {
		t.Fatalf("closed as a slow consumer (%v), want the write timeout", got)
	}
	expectTCPEnd(t, r.conn, 10*time.Second)
}

// TestSlowHandshakesDoNotBlock: 500 connections that send half an upgrade
// request and hang do not hold up a normal client's upgrade and echo; the
// handshake timeout then closes all of them, and nothing of them remains:
// no socket, no goroutine, no timer.
func TestSlowHandshakesDoNotBlock(t *testing.T) {
	const (
		slow = 500
		hs   = 3 * time.Second
	)
	o := timeoutOptions()
	o.HandshakeTimeout = hs
	o.PingInterval = 30 * time.Second
	o.IdleTimeout = time.Minute
	o.Tick = 20 * time.Millisecond
	s := startServer(t, o)
	baseline := runtime.NumGoroutine()

	conns := make([]net.Conn, 0, slow)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < slow; i++ {
		c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatalf("slow dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatalf("slow write %d: %v", i, err)
		}
	}
	waitFor(t, 5*time.Second, "all slow connections accepted", func() bool { return sockets(t, s) == slow })

	start := time.Now()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial(wsURL(s, "/echo"), nil)
	if err != nil {
		t.Fatalf("normal client among %d slow ones: %v", slow, err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("through")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "through" {
		t.Fatalf("echo among slow handshakes: %q, %v", p, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("upgrade and echo took %v among %d slow handshakes, want under 2s", d, slow)
	}
	if n := timeouts(t, s, "handshake"); n != 0 || sockets(t, s) != slow+1 {
		t.Fatalf("slow handshakes ended early: %v timed out, %d sockets", n, sockets(t, s))
	}
	if n, ok := timerCount(s); ok && n < slow+1 {
		t.Fatalf("%d wheel entries for %d connections with timers", n, slow+1)
	}
	c.Close()

	waitFor(t, hs+10*time.Second, "every slow handshake timed out", func() bool {
		return timeouts(t, s, "handshake") == slow
	})
	waitAllClosed(t, s)
	// The clients see the server's close too.
	var wg sync.WaitGroup
	errs := make(chan error, slow)
	for i := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, c); isTimeout(err) {
				errs <- err
			}
		}(conns[i])
		if i%50 == 49 {
			wg.Wait()
		}
	}
	wg.Wait()
	close(errs)
	if n := len(errs); n > 0 {
		t.Fatalf("%d slow connections still open on the client side: %v", n, <-errs)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = conns[:0]

	waitGoroutines(t, baseline)
	if _, ok := timerCount(s); ok {
		waitFor(t, 5*time.Second, "wheel entries released", func() bool {
			n, _ := timerCount(s)
			return n == 0
		})
	} else {
		t.Log("poller has no Timers accessor: wheel entries not checked")
	}
}
