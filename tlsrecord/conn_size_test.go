package tlsrecord

import (
	"crypto/tls"
	"testing"
	"unsafe"
)

// TestIdleSize: an idle connection's record layer is one 144-byte object
// (two 48-byte secret slots, two sequence numbers, two nil cipher pointers,
// a mutex, flags): nothing else stays allocated after Idle.
func TestIdleSize(t *testing.T) {
	if got := unsafe.Sizeof(Conn{}); got != 144 {
		t.Fatalf("Conn is %d bytes, want 144 (a size class of its own)", got)
	}
	server, client := pair(t, tls.TLS_AES_128_GCM_SHA256)
	rec, _ := client.Seal(nil, []byte("x"))
	openAll(server, rec)
	server.Seal(nil, []byte("y"))
	if server.in.k == nil || server.out.k == nil {
		t.Fatal("no cipher state while active")
	}
	server.Idle()
	server.Idle()
	if server.in.k != nil || server.out.k != nil {
		t.Fatal("cipher state kept after two Idle calls")
	}
}
