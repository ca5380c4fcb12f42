package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
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
