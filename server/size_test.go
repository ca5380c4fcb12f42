package server

import (
	"testing"
	"unsafe"
)

// TestConnSize: wsConn is what every connection costs on top of the
// poller's Conn; 64 bytes is a size class, one byte more costs 16 (80).
// (The TLS layer, the -msg-rate bucket and a fragmented message's start live
// in wsSpill, the decoder's rare state in its own spill, the server is the
// poller's handler, the decoder's Config is passed per call.)
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(wsConn{}); n > 64 {
		t.Fatalf("wsConn is %d bytes, budget 64", n)
	}
}
