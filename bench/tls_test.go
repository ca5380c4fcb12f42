package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// selfSigned is a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "wsbench test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// startTLSServer serves h over TLS on 127.0.0.1:0 and returns a wss Target.
func startTLSServer(t *testing.T, path string, h http.HandlerFunc) (Target, *x509.CertPool) {
	t.Helper()
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, h)
	srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)} // refused handshakes are expected
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	tg, err := ParseTarget(t.Context(), "wss://"+ln.Addr().String()+path, false)
	if err != nil {
		t.Fatal(err)
	}
	return tg, pool
}

func TestTLSEcho(t *testing.T) {
	tg, pool := startTLSServer(t, "/echo", echoHandler)
	for _, tc := range []struct {
		name  string
		size  int
		depth int
		text  bool
	}{
		{"binary64", 64, 1, false},
		{"binary4k-pipelined", 4096, 8, false},
		{"text64k", 64 << 10, 2, true}, // 4+ records of 16 KiB per message
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Echo(t.Context(), EchoConfig{
				Common: Common{Target: tg, RootCAs: pool, ServerPID: os.Getpid()},
				Conns:  4, Size: tc.size, Depth: tc.depth, Text: tc.text, Warmup: 300 * time.Millisecond, Duration: 500 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Opened != 4 || r.Msgs == 0 || r.Latency.Count == 0 || r.Failed+r.Dropped != 0 {
				t.Fatalf("opened %d msgs %d failed %d dropped %d causes %v", r.Opened, r.Msgs, r.Failed, r.Dropped, r.Causes)
			}
		})
	}
}

func TestTLSIdleAndHandshakes(t *testing.T) {
	tg, pool := startTLSServer(t, "/echo", echoHandler)
	// 20 at once: 60 handshakes under the race detector on a loaded machine
	// overran the engine's 5 s handshake timeout.
	r, err := Idle(t.Context(), IdleConfig{Common: Common{Target: tg, RootCAs: pool}, Conns: 20, Hold: 50 * time.Millisecond})
	if err != nil || r.Held != 20 || r.Failed != 0 {
		t.Fatalf("idle: %+v %v", r, err)
	}
	h, err := Handshake(t.Context(), HandshakeConfig{Common: Common{Target: tg, Insecure: true}, Cycles: 40, Concurrency: 4, Warmup: -1})
	if err != nil || h.Cycles != 40 || h.Failed+h.Dropped != 0 {
		t.Fatalf("handshake: %+v %v", h, err)
	}
}

// TestTLSRefusals: an untrusted certificate fails the connect with the
// reason; a server that never answers the ClientHello times out.
func TestTLSRefusals(t *testing.T) {
	tg, _ := startTLSServer(t, "/echo", echoHandler)
	r, err := Idle(t.Context(), IdleConfig{Common: Common{Target: tg}, Conns: 4})
	if err != nil || r.Failed != 4 || len(r.Causes) != 1 {
		t.Fatalf("untrusted: %+v %v", r, err)
	}
	for cause := range r.Causes {
		if !strings.HasPrefix(cause, "tls: ") || !strings.Contains(cause, "certificate") {
			t.Fatalf("cause %q", cause)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // silent: never answers
		}
	}()
	silent, _ := ParseTarget(t.Context(), "wss://"+ln.Addr().String()+"/echo", false)
	ec := (&Common{Target: silent, Insecure: true}).engineConfig()
	ec.HandshakeTimeout = 300 * time.Millisecond
	e, err := NewEngine(ec)
	if err != nil {
		t.Fatal(err)
	}
	e.Dial(3)
	waitFor(t.Context(), 5*time.Second, 20*time.Millisecond, func() bool { return e.Counters().Failed >= 3 }, func() {})
	f := e.Close()
	if f.Causes["tls handshake timeout"] != 3 {
		t.Fatalf("silent server: %v", f.Causes)
	}

	// Closing the engine in the middle of handshakes ends their goroutines.
	e, err = NewEngine(ec)
	if err != nil {
		t.Fatal(err)
	}
	e.Dial(10)
	waitFor(t.Context(), 2*time.Second, 5*time.Millisecond, func() bool { return e.Counters().Dialed >= 10 }, func() {})
	time.Sleep(50 * time.Millisecond)
	done := make(chan Final)
	go func() { done <- e.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on handshakes in progress")
	}
}
