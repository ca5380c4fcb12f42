package server

import (
	"testing"
	"unsafe"
)

// TestConnSize: wsConn is what every connection costs on top of the
// poller's Conn, in the same allocation (poller.NewFor): 48 bytes after the
// poller's 96 make 144, a size class; one byte more costs 16 (160). (The TLS
// layer, the -msg-rate bucket and a fragmented message's start live in
// wsSpill, the decoder's rare state in its own spill, the server is the
// poller's handler, the decoder's Config is passed per call, the Conn is
// found by its offset, the ping and partial-frame times are 32-bit stamps.)
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(wsConn{}); n > 48 {
		t.Fatalf("wsConn is %d bytes, budget 48", n)
	}
}

// TestAcceptedTime: during the handshake the accept time is kept whole (to
// the nanosecond, for the handshake histogram) in the two stamp fields.
func TestAcceptedTime(t *testing.T) {
	for _, at := range []int64{0, 1, 123_456_789, 1 << 40, 1<<62 + 12345, -5_000_000_000} {
		var w wsConn
		w.setAccepted(at)
		if got := w.accepted(); got != at {
			t.Errorf("setAccepted(%d): accepted %d", at, got)
		}
	}
}
