package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestLoopback: the ports are free to bind and below the kernel's ephemeral
// range, where listeners on :0 and outgoing connections take theirs.
func TestLoopback(t *testing.T) {
	hi := below()
	for range 20 {
		port, err := Loopback()
		if err != nil {
			t.Fatal(err)
		}
		if hi > lowest+1000 && (port < lowest || port >= hi) {
			t.Fatalf("port %d outside [%d, %d)", port, lowest, hi)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		ln.Close()
	}
}
