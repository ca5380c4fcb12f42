package server

import (
	"testing"
	"unsafe"
)

// TestConnSize: wsConn is what every connection costs on top of the
// poller's Conn, in the same allocation (poller.NewFor): 56 bytes after the
// poller's 104 make 160, a size class; one byte more costs 16 (176). (The TLS
// layer, the -msg-rate bucket and a fragmented message's start live in
// wsSpill, the decoder's rare state in its own spill, the server is the
// poller's handler, the decoder's Config is passed per call, the Conn is
// found by its offset.)
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(wsConn{}); n > 56 {
		t.Fatalf("wsConn is %d bytes, budget 56", n)
	}
}
