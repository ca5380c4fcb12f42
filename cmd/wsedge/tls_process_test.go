package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/testcert"
)

// metricValue reads one unlabelled sample from Prometheus text.
func metricValue(t *testing.T, text, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestBinaryTLSReloadMetricsAndForcedDrain runs the real binary with TLS,
// on each record layer: wss echo, /health and /metrics following the
// traffic, SIGHUP swapping the certificate without dropping connections,
// and SIGTERM force-closing a client that ignores the close frame at
// -shutdown-timeout, then exit 0.
func TestBinaryTLSReloadMetricsAndForcedDrain(t *testing.T) {
	for _, layer := range []string{"compact", "stdlib"} {
		t.Run(layer, func(t *testing.T) { testBinaryTLSReloadAndDrain(t, layer) })
	}
}

func testBinaryTLSReloadAndDrain(t *testing.T, layer string) {
	dir := t.TempDir()
	certFile, keyFile, pool1 := testcert.Write(t, dir, 1)
	node := startNode(t, []string{"WSEDGE_SHUTDOWN_TIMEOUT=1s", "WSEDGE_TLS_RECORD_LAYER=" + layer},
		"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-tls-cert", certFile, "-tls-key", keyFile)
	cmd, log := node.cmd, node.log
	started := log.wait(t, "wsedge started")
	listen, _ := started["listen"].(string)
	adminAddr, _ := started["admin_listen"].(string)

	dialer := func(pool *x509.CertPool) *websocket.Dialer {
		return &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 5 * time.Second}
	}
	old, _, err := dialer(pool1).Dial("wss://"+listen+"/echo", nil)
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	defer old.Close()
	old.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := 0; i < 5; i++ {
		if err := old.WriteMessage(websocket.TextMessage, []byte("over tls")); err != nil {
			t.Fatal(err)
		}
		if _, p, err := old.ReadMessage(); err != nil || string(p) != "over tls" {
			t.Fatalf("wss echo: %q %v", p, err)
		}
	}
	if code, body := httpGet(t, "http://"+adminAddr+"/health"); code != 200 || !regexp.MustCompile(`"connections":1\b`).MatchString(body) {
		t.Fatalf("/health with one client: %d %s", code, body)
	}
	_, metrics := httpGet(t, "http://"+adminAddr+"/metrics")
	if got := metricValue(t, metrics, "wsedge_messages_received_total"); got != 5 {
		t.Fatalf("wsedge_messages_received_total = %v, want 5", got)
	}
	if got := metricValue(t, metrics, "wsedge_connections_active"); got != 1 {
		t.Fatalf("wsedge_connections_active = %v, want 1", got)
	}
	if got := metricsText(metrics).value(`wsedge_tls_sessions_total{record_layer="` + layer + `",version="1.3"}`); got != 1 {
		t.Fatalf("TLS 1.3 sessions on the %s record layer: %v, want 1", layer, got)
	}

	// New certificate, SIGHUP: new connections get it, the old one lives on.
	_, _, pool2 := testcert.Write(t, dir, 2)
	cmd.Process.Signal(syscall.SIGHUP)
	log.wait(t, "SIGHUP: TLS certificate reloaded")
	fresh, _, err := dialer(pool2).Dial("wss://"+listen+"/echo", nil)
	if err != nil {
		t.Fatalf("dial after reload (new certificate): %v", err)
	}
	fresh.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := fresh.WriteMessage(websocket.TextMessage, []byte("fresh")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := fresh.ReadMessage(); err != nil || string(p) != "fresh" {
		t.Fatalf("connection after the reload: %q %v", p, err)
	}
	fresh.Close()
	if err := old.WriteMessage(websocket.TextMessage, []byte("still")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := old.ReadMessage(); err != nil || string(p) != "still" {
		t.Fatalf("connection from before the reload: %q %v", p, err)
	}

	// A client that never answers the close frame (raw TLS, no reads).
	silent, err := tls.Dial("tcp", listen, &tls.Config{RootCAs: pool2})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	io.WriteString(silent, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(silent)
	if line, err := br.ReadString('\n'); err != nil || line != "HTTP/1.1 101 Switching Protocols\r\n" {
		t.Fatalf("silent client upgrade: %q %v", line, err)
	}

	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := node.waitExit(t, 15*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v (want 0)", err)
	}
	if took := time.Since(start); took < 800*time.Millisecond || took > 8*time.Second {
		t.Fatalf("exited %v after SIGTERM; want about -shutdown-timeout (1s) since one client ignores the close", took)
	}
	log.wait(t, "drain ended with force")
	// The silent client got the 1012 close frame, then the connection ended.
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, _ := io.ReadAll(br)
	if i := indexClose1012(rest); i < 0 {
		t.Fatalf("silent client never got a 1012 close frame: % x", rest)
	}
}

// indexClose1012 finds an unmasked close frame with code 1012 in b.
func indexClose1012(b []byte) int {
	for i := 0; i+3 < len(b); i++ {
		if b[i] == 0x88 && b[i+1] >= 2 && b[i+1] < 126 && b[i+2] == 0x03 && b[i+3] == 0xF4 {
			return i
		}
	}
	return -1
}
