package server

import (
	"testing"
	"time"

	"github.com/wsedge/wsedge/codec"
)

// TestConnectionGauges: wsedge_connections_active counts upgraded
// connections (as /health's connections), wsedge_sockets_open every socket
// (as /health's sockets), whatever its state.
func TestConnectionGauges(t *testing.T) {
	s := startServer(t, testOptions())
	gauges := func() (active, open float64) {
		return counterValue(t, s.Metrics().ConnectionsActive), counterValue(t, s.Metrics().SocketsOpen)
	}
	ws := dialRaw(t, s, "/echo")
	pending := rawDial(t, s) // connected, no request yet
	waitFor(t, 5*time.Second, "two sockets", func() bool { return sockets(t, s) == 2 })
	if a, o := gauges(); a != 1 || o != 2 || s.Connections() != 1 {
		t.Fatalf("one upgraded, one in the handshake: active %v, sockets %v, /health connections %d", a, o, s.Connections())
	}
	pending.Close()
	ws.send(frame(true, 0, codec.OpClose, true, closePayload(1000, "")))
	ws.expectClose(1000)
	waitAllClosed(t, s)
}

// TestCloseCodeLabels: close codes a client chooses are echoed in the close
// handshake, but counted under a bounded set of labels.
func TestCloseCodeLabels(t *testing.T) {
	s := startServer(t, testOptions())
	for _, code := range []uint16{1000, 1001, 3000, 3999, 4000, 4123, 4999} {
		r := dialRaw(t, s, "/echo")
		r.send(frame(true, 0, codec.OpClose, true, closePayload(code, "")))
		r.expectClose(codec.CloseCode(code))
	}
	for label, want := range map[string]float64{"1000": 1, "1001": 1, "3xxx": 2, "4xxx": 3} {
		if got := counterValue(t, s.Metrics().Closes.WithLabelValues(label)); got != want {
			t.Errorf("closes{code=%q} = %v, want %v", label, got, want)
		}
	}
	for _, label := range []string{"3000", "4123"} {
		if got := counterValue(t, s.Metrics().Closes.WithLabelValues(label)); got != 0 {
			t.Errorf("closes{code=%q} = %v: a client's code became a label", label, got)
		}
	}
}
