package tlsrecord

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"unsafe"
)

// The baseline in these benchmarks is crypto/tls's own record layer on an
// established connection, over an in-memory transport: tls.Conn.Write into
// a sink, tls.Conn.Read from prepared records.

var sizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"16KiB", 16 << 10}}

// memConn runs the handshake over a pipe, then writes into a sink and reads
// from a reader set by the benchmark.
type memConn struct {
	net.Conn
	mu   sync.Mutex
	sink *bytes.Buffer // non-nil: Write appends here
	src  io.Reader     // non-nil: Read comes from here
}

func (m *memConn) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sink != nil {
		return m.sink.Write(p)
	}
	return m.Conn.Write(p)
}

func (m *memConn) Read(p []byte) (int, error) {
	if m.src != nil {
		return m.src.Read(p)
	}
	return m.Conn.Read(p)
}

// tlsPair is an established crypto/tls client/server pair on memConns.
func tlsPair(b *testing.B) (client, server *tls.Conn, cm, sm *memConn) {
	base, files := serverConfig(b)
	c1, c2 := net.Pipe()
	cm, sm = &memConn{Conn: c1}, &memConn{Conn: c2}
	server = tls.Server(sm, base)
	client = tls.Client(cm, &tls.Config{RootCAs: files.pool, ServerName: "127.0.0.1", CipherSuites: nil})
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		b.Fatal(err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	if client.ConnectionState().CipherSuite != tls.TLS_AES_128_GCM_SHA256 {
		b.Skip("crypto/tls chose another suite on this machine")
	}
	// A Go client never gets a ticket without a session cache, so
	// nothing more comes after the handshake.
	cm.sink, sm.sink = new(bytes.Buffer), new(bytes.Buffer)
	return client, server, cm, sm
}

func BenchmarkSeal(b *testing.B) {
	for _, sz := range sizes {
		msg := make([]byte, sz.n)
		b.Run("tlsrecord/"+sz.name, func(b *testing.B) {
			server, _ := pair(b, tls.TLS_AES_128_GCM_SHA256)
			dst := make([]byte, 0, SealedLen(sz.n))
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				out, err := server.Seal(dst[:0], msg)
				if err != nil || len(out) == 0 {
					b.Fatal(err)
				}
			}
		})
		b.Run("crypto-tls/"+sz.name, func(b *testing.B) {
			_, server, _, sm := tlsPair(b)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				sm.sink.Reset()
				if _, err := server.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSealAfterIdle: every record finds the cipher state dropped and
// derives it again (HKDF-Expand-Label twice, AEAD setup): the cost of
// waking an idle connection, against BenchmarkSeal/tlsrecord/64B.
func BenchmarkSealAfterIdle(b *testing.B) {
	for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_CHACHA20_POLY1305_SHA256} {
		b.Run(tls.CipherSuiteName(id), func(b *testing.B) {
			server, _ := pair(b, id)
			msg := make([]byte, 64)
			dst := make([]byte, 0, SealedLen(64))
			b.ReportAllocs()
			for b.Loop() {
				server.Idle()
				server.Idle()
				if _, err := server.Seal(dst[:0], msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDerive is the derive-on-demand cost alone, per direction.
func BenchmarkDerive(b *testing.B) {
	for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256} {
		s := &suites[suiteByID(id)]
		secret := make([]byte, s.hashLen)
		b.Run(tls.CipherSuiteName(id), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := deriveKeys(s, secret); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	const batch = 256
	for _, sz := range sizes {
		msg := make([]byte, sz.n)
		b.Run("tlsrecord/"+sz.name, func(b *testing.B) {
			server, peer := pair(b, tls.TLS_AES_128_GCM_SHA256)
			var wire, buf []byte
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			i := batch
			for b.Loop() {
				if i == batch {
					b.StopTimer()
					wire = wire[:0]
					for range batch {
						wire, _ = peer.Seal(wire, msg)
					}
					i = 0
					b.StartTimer()
				}
				rl := SealedLen(sz.n) - 2*keyUpdateLen
				rec := wire[i*rl : (i+1)*rl]
				i++
				buf = append(buf[:0], rec...) // the read(2) copy
				n, _, err := server.Open(buf)
				if err != nil || n != sz.n {
					b.Fatal(n, err)
				}
			}
		})
		b.Run("crypto-tls/"+sz.name, func(b *testing.B) {
			client, server, cm, sm := tlsPair(b)
			out := make([]byte, sz.n+1)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			var src bytes.Reader
			sm.src = &src
			i := batch
			for b.Loop() {
				if i == batch {
					b.StopTimer()
					cm.sink.Reset()
					for range batch {
						client.Write(msg)
					}
					src.Reset(cm.sink.Bytes())
					i = 0
					b.StartTimer()
				}
				i++
				if _, err := io.ReadFull(server, out[:sz.n]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIdleBytes reports what a connection's record layer holds: idle
// (after Idle twice) and active (both directions derived).
func BenchmarkIdleBytes(b *testing.B) {
	const n = 2000
	for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_CHACHA20_POLY1305_SHA256} {
		b.Run(tls.CipherSuiteName(id), func(b *testing.B) {
			for b.Loop() {
				conns := make([]*Conn, n)
				peers := make([]*Conn, n)
				for i := range conns {
					conns[i], peers[i] = pair(b, id)
				}
				before := heapInUse()
				for i, c := range conns {
					rec, _ := peers[i].Seal(nil, []byte("x"))
					c.Open(rec)
					c.Seal(nil, []byte("y"))
				}
				peers = nil
				active := heapInUse()
				for _, c := range conns {
					c.Idle()
					c.Idle()
				}
				idle := heapInUse()
				b.ReportMetric(float64(unsafe.Sizeof(Conn{})), "B/idle-conn")
				b.ReportMetric(float64(active-idle)/n+float64(unsafe.Sizeof(Conn{})), "B/active-conn")
				_ = before
				runtime.KeepAlive(conns)
			}
		})
	}
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkDeriveParts splits BenchmarkDerive: the two HKDF-Expand-Label
// calls (key and IV from the traffic secret) against building the AEAD from
// a key kept. It is the evidence for what an idle connection keeps: the
// secret only (re-derive = both parts), not also the key and IV (28-44 more
// bytes per direction, re-derive = the AEAD part only).
func BenchmarkDeriveParts(b *testing.B) {
	for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_CHACHA20_POLY1305_SHA256} {
		s := &suites[suiteByID(id)]
		secret := make([]byte, s.hashLen)
		b.Run(tls.CipherSuiteName(id)+"/hkdf-key-iv", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := expandLabel(s, secret, "key", s.keyLen); err != nil {
					b.Fatal(err)
				}
				if _, err := expandLabel(s, secret, "iv", ivLen); err != nil {
					b.Fatal(err)
				}
			}
		})
		key := make([]byte, s.keyLen)
		b.Run(tls.CipherSuiteName(id)+"/aead", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.newAEAD(key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
