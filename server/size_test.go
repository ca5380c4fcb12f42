package server

import (
	"testing"
	"unsafe"
)

// TestConnSize: wsConn is what every connection costs on top of the
// poller's Conn; 112 bytes is a size class of its own, one byte more costs
// 16 (128).
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(wsConn{}); n > 112 {
		t.Fatalf("wsConn is %d bytes, budget 112", n)
	}
}
