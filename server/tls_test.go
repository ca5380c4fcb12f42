package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/testcert"
)

func tlsDialer(pool *x509.CertPool) *websocket.Dialer {
	return &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 5 * time.Second}
}

func TestTLSEcho(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := testcert.Write(t, dir, 1)
	o := testOptions()
	o.TLSCert, o.TLSKey = certFile, keyFile
	o.MaxMessageSize = 1 << 20
	s := startServer(t, o)
	url := "wss://" + s.Addr().String() + "/echo"
	c, _, err := tlsDialer(cert).Dial(url, nil)
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	defer c.Close()
	// Sizes around TLS record (16 KiB) and frame-length boundaries.
	for _, n := range []int{0, 1, 125, 126, 16384, 16385, 65536, 300000} {
		msg := bytes.Repeat([]byte{byte('a' + n%26)}, n)
		if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			t.Fatalf("write %d: %v", n, err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo %d: got %d bytes, %v", n, len(got), err)
		}
	}
	// A plain-text client on the TLS port gets no WebSocket.
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr().String()+"/echo", nil); err == nil {
		t.Fatal("plain ws upgrade succeeded on the TLS port")
	}
}

func TestTLSReloadSwapsCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, first := testcert.Write(t, dir, 1)
	o := testOptions()
	o.TLSCert, o.TLSKey = certFile, keyFile
	s := startServer(t, o)
	url := "wss://" + s.Addr().String() + "/echo"
	old, _, err := tlsDialer(first).Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	_, _, second := testcert.Write(t, dir, 2) // overwrites the files
	if err := s.ReloadTLS(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	c, _, err := tlsDialer(second).Dial(url, nil)
	if err != nil {
		t.Fatalf("dial with the new certificate: %v", err)
	}
	defer c.Close()
	if got := c.UnderlyingConn().(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 2 {
		t.Fatalf("new connection got certificate serial %d, want 2", got)
	}
	// The connection made before the reload lives on.
	if err := old.WriteMessage(websocket.TextMessage, []byte("still")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := old.ReadMessage(); err != nil || string(got) != "still" {
		t.Fatalf("old connection after reload: %q %v", got, err)
	}
}

// TestTLSHandshakeTimeout: -handshake-timeout covers the TLS handshake and
// the upgrade request after it; a stall in either is a handshake timeout,
// not a bad request.
func TestTLSHandshakeTimeout(t *testing.T) {
	const hs = 300 * time.Millisecond
	certFile, keyFile, pool := testcert.Write(t, t.TempDir(), 1)
	o := timeoutOptions()
	o.HandshakeTimeout = hs
	o.TLSCert, o.TLSKey = certFile, keyFile
	s := startServer(t, o)
	cases := []struct {
		name string
		send func(t *testing.T, c net.Conn)
	}{
		{"nothing sent", func(*testing.T, net.Conn) {}},
		{"part of a ClientHello", func(_ *testing.T, c net.Conn) {
			c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc})
		}},
		{"TLS done, no request", func(t *testing.T, c net.Conn) {
			tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			if err := tc.Handshake(); err != nil {
				t.Errorf("TLS handshake: %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := rawDial(t, s)
			start := time.Now()
			tc.send(t, c)
			expectTCPEnd(t, c, 5*hs+5*time.Second)
			checkElapsed(t, "stalled handshake closed", time.Since(start), hs)
		})
	}
	if got := timeouts(t, s, "handshake"); got != float64(len(cases)) {
		t.Errorf("handshake timeouts = %v, want %d", got, len(cases))
	}
	if got := counterValue(t, s.Metrics().Rejected.WithLabelValues("bad_request")); got != 0 {
		t.Errorf("bad_request refusals = %v, want 0", got)
	}
}
