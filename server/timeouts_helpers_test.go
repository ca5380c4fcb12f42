package server

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/wsedge/wsedge/codec"
)

// timeoutOptions are testOptions with a millisecond wheel and every
// heartbeat and timeout off; each test switches on the ones it exercises.
func timeoutOptions() Options {
	o := testOptions()
	o.Tick = 10 * time.Millisecond
	o.PingInterval = 0
	o.IdleTimeout = 0
	o.ReadTimeout = 0
	o.WriteTimeout = 0
	o.HandshakeTimeout = 0
	return o
}

// counterValue reads a counter (or gauge) without prometheus/testutil, whose
// diff dependency the module does not carry.
func counterValue(t testing.TB, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("read metric: %v", err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("metric %s is neither a counter nor a gauge", c.Desc())
	return 0
}

func timeouts(t testing.TB, s *Server, kind string) float64 {
	t.Helper()
	return counterValue(t, s.Metrics().Timeouts.WithLabelValues(kind))
}

// histogramCount gathers the registry and returns the sample count of the
// histogram called name.
func histogramCount(t testing.TB, s *Server, name string) uint64 {
	t.Helper()
	mfs, err := s.Metrics().Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// sockets is the "sockets" count of /health: every connection the loops
// hold, upgraded or not.
func sockets(t testing.TB, s *Server) int {
	t.Helper()
	_, body := s.Health()
	var h struct {
		Sockets *int `json:"sockets"`
	}
	if err := json.Unmarshal(body, &h); err != nil || h.Sockets == nil {
		t.Fatalf("health body %q: %v", body, err)
	}
	return *h.Sockets
}

// waitFor polls cond until it holds or within passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGoroutines waits for the goroutine count to come back to baseline
// (plus a little slack for runtime and test-framework goroutines).
func waitGoroutines(t testing.TB, baseline int) {
	t.Helper()
	const slack = 3
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline+slack {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, baseline %d\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectNoLeaks takes the goroutine baseline now and, when the test ends
// (after its clients closed, before the server stops), waits for every
// socket, counted connection, wheel entry and goroutine to be gone.
func expectNoLeaks(t *testing.T, s *Server) {
	t.Helper()
	baseline := runtime.NumGoroutine()
	t.Cleanup(func() {
		waitAllClosed(t, s)
		if _, ok := timerCount(s); ok {
			var n int
			waitFor(t, 5*time.Second, "wheel entries released", func() bool {
				n, _ = timerCount(s)
				return n == 0
			})
		}
		waitGoroutines(t, baseline)
	})
}

// waitAllClosed waits until the loops hold no socket and OnClose has run for
// each (the socket count drops before OnClose updates the others).
func waitAllClosed(t testing.TB, s *Server) {
	t.Helper()
	waitFor(t, 5*time.Second, "every connection closed and released", func() bool {
		return sockets(t, s) == 0 && s.Connections() == 0 &&
			counterValue(t, s.Metrics().ConnectionsActive) == 0 && counterValue(t, s.Metrics().SocketsOpen) == 0
	})
}

// checkElapsed fails unless got is within a generous band around the
// configured timeout: the band only separates "fired on its timer" from
// "fired at once" and "never fired".
func checkElapsed(t testing.TB, what string, got, timeout time.Duration) {
	t.Helper()
	if got < timeout*8/10 || got > timeout*5 {
		t.Fatalf("%s after %v, want between %v and %v", what, got, timeout*8/10, timeout*5)
	}
}

// timerCount reports the poller's scheduled wheel entries when the poller
// offers a read-only Timers accessor; ok is false while it does not.
func timerCount(s *Server) (n int, ok bool) {
	tp, ok := any(s.poll).(interface{ Timers() int })
	if !ok {
		return 0, false
	}
	return tp.Timers(), true
}

// expectTCPEnd reads until the server ends the connection: EOF or a reset
// pass, a timeout fails.
func expectTCPEnd(t testing.TB, c net.Conn, within time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	if isTimeout(err) {
		t.Fatalf("want the server to close TCP within %v, still open", within)
	}
}

// nextFrame reads one server frame within d.
func (r *rawClient) nextFrame(d time.Duration) (serverFrame, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(d))
	return r.next()
}

// closeCode is the code of a close frame's payload (1005 when empty).
func closeCode(f serverFrame) codec.CloseCode {
	if len(f.payload) < 2 {
		return codec.CloseNoStatus
	}
	return codec.CloseCode(uint16(f.payload[0])<<8 | uint16(f.payload[1]))
}

// dialRawRcvBuf upgrades a raw connection whose receive buffer is set to
// rcvbuf bytes before connecting, so the window it advertises stays small.
func dialRawRcvBuf(t testing.TB, s *Server, path string, rcvbuf int) *rawClient {
	t.Helper()
	d := net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	c, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, upgradeRequest(path, "")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return &rawClient{t: t, conn: c, br: br}
}
