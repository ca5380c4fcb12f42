package server

import (
	"testing"
	"unsafe"
)

// TestConnSize: wsConn is what every connection costs on top of the
// poller's Conn; 96 bytes is a size class, one byte more costs 16 (112).
// (The TLS layer and the -msg-rate bucket live in wsSpill, the decoder's
// rare state in its own spill.)
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(wsConn{}); n > 96 {
		t.Fatalf("wsConn is %d bytes, budget 96", n)
	}
}
