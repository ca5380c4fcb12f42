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

// TestIdleReports: Idle says what it did, per the second-chance rule, and
// Held agrees with it; a direction used since the last call is kept while
// the other goes.
func TestIdleReports(t *testing.T) {
	server, client := pair(t, tls.TLS_AES_128_GCM_SHA256)
	if server.Held() {
		t.Fatal("a fresh record layer holds cipher state")
	}
	if dropped, held := server.Idle(); dropped || held {
		t.Fatalf("Idle of a fresh layer: dropped %v held %v", dropped, held)
	}
	rec, _ := client.Seal(nil, []byte("x"))
	openAll(server, rec) // derives the read state only
	steps := []struct {
		name                string
		seal                bool // seal before this Idle
		dropped, held, want bool
	}{
		{"just used: kept", false, false, true, true},
		{"unused since: read state dropped, write state derived and kept", true, true, true, true},
		{"write state unused since: dropped", false, true, false, false},
		{"nothing left", false, false, false, false},
	}
	for _, s := range steps {
		if s.seal {
			server.Seal(nil, []byte("y"))
		}
		dropped, held := server.Idle()
		if dropped != s.dropped || held != s.held || server.Held() != s.want {
			t.Fatalf("%s: dropped %v held %v Held() %v; want %v %v %v", s.name, dropped, held, server.Held(), s.dropped, s.held, s.want)
		}
	}
}
