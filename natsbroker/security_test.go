package natsbroker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wsedge/wsedge/routing"
)

// writeCert makes a key and a certificate signed by parent (self-signed when parent is nil)
// and writes them as PEM files in dir.
func writeCert(t *testing.T, dir, name string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TLS to NATS with a private CA and a client certificate the server requires (the options
// behind -broker-tls-ca, -broker-tls-cert, -broker-tls-key).
func TestTLSToNATS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", true, nil, nil)
	writeCert(t, dir, "server", false, ca, caKey)
	writeCert(t, dir, "client", false, ca, caKey)
	p := func(name string) string { return filepath.Join(dir, name) }
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: p("server.pem"), KeyFile: p("server-key.pem"), CaFile: p("ca.pem"), Verify: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		TLS: true, TLSVerify: true, TLSConfig: tc, TLSTimeout: 2})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(waitFor) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	url := ns.ClientURL() // nats://…: the server asks for TLS, the client follows

	if _, err := New(url, routing.NewHub(0), nil, ConnectTimeout(time.Second), TLS(p("ca.pem"), "", "")); err == nil {
		t.Fatal("connected without the client certificate the server requires")
	}
	n := newNode(t, url, TLS(p("ca.pem"), p("client.pem"), p("client-key.pem")))
	if !n.b.Connected() {
		t.Fatal("not connected over TLS")
	}
	f, _ := n.subscriber("secure")
	other := newNode(t, url, TLS(p("ca.pem"), p("client.pem"), p("client-key.pem")))
	other.publish("secure", `"over tls"`)
	eventually(t, "the message over TLS", func() bool { return len(f.messages()) == 1 })
}

// A clean Close is not a lost connection: no warning about publishes answering UNAVAILABLE.
func TestCloseLogsNoDisconnect(t *testing.T) {
	ns := natsServer(t, -1, 0)
	core, logs := observer.New(zap.DebugLevel)
	hub := routing.NewHub(0)
	b, err := New(ns.ClientURL(), hub, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	hub.SetCluster(b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessageSnippet("disconnected").Len(); n != 0 {
		t.Fatalf("clean close logged a disconnection: %v", logs.All())
	}
	if logs.FilterMessage("nats connection closed").Len() != 1 {
		t.Fatalf("close not logged: %v", logs.All())
	}
	// An outage still is logged.
	ns2 := natsServer(t, -1, 0)
	core2, logs2 := observer.New(zap.DebugLevel)
	b2, err := New(ns2.ClientURL(), routing.NewHub(0), zap.New(core2), ReconnectWait(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	ns2.Shutdown()
	ns2.WaitForShutdown()
	eventually(t, "the disconnection warning", func() bool { return logs2.FilterMessageSnippet("nats disconnected").Len() == 1 })
}
