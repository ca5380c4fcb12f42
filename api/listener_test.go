package api

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/testcert"
)

func TestServeRefuses(t *testing.T) {
	f := &fakeNode{}
	if _, err := Serve(f, Config{}, ListenConfig{Addr: "127.0.0.1:0"}); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v", err)
	} else if !strings.Contains(err.Error(), "-api-key") {
		t.Errorf("the error does not say which flag: %v", err)
	}
	if _, err := Serve(f, Config{Keyless: true}, ListenConfig{Addr: "127.0.0.1:0"}); err == nil {
		t.Error("a keyless API listener started")
	}
	if _, err := Serve(f, Config{Key: testKey}, ListenConfig{Addr: "127.0.0.1:0", TLSCert: "c.pem"}); err == nil {
		t.Error("started with a certificate and no key file")
	}
	if _, err := Serve(f, Config{Key: testKey}, ListenConfig{Addr: "127.0.0.1:0", TLSCert: "/nonexistent/c.pem", TLSKey: "/nonexistent/k.pem"}); err == nil {
		t.Error("started with missing certificate files")
	}
	_, _, l := startAPI(t, Config{})
	if _, err := Serve(f, Config{Key: testKey}, ListenConfig{Addr: l.Addr().String()}); err == nil || !strings.Contains(err.Error(), "api listener") {
		t.Errorf("taken port: %v", err)
	}
}

// rawRequest writes head (and body) on a fresh connection and returns the
// connection and a reader of the answer.
func rawRequest(t *testing.T, addr, head string, body []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a hang fails the test instead of blocking it
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(body); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

func TestBodyLimit(t *testing.T) {
	const limit = 1024
	base, f, l := startAPI(t, Config{MaxBody: limit})
	addr := l.Addr().String()
	pad := func(n int) string { // a valid publish of exactly n bytes
		s := `{"channel":"a","data":""}`
		return s[:len(s)-2] + strings.Repeat("x", n-len(s)) + `"}`
	}
	if code, _, body := post(t, base+"/api/publish", testKey, pad(limit)); code != 200 {
		t.Fatalf("exactly the limit: %d %s", code, body)
	}
	code, _, body := post(t, base+"/api/publish", testKey, pad(limit+1))
	if c, msg := errorOf(t, body); code != 413 || c != CodeTooLarge || !strings.Contains(msg, "1KiB") {
		t.Fatalf("one byte over: %d %s", code, body)
	}

	// A declared length over the limit is refused before any of the body
	// is read: the answer comes although the body never arrives.
	head := "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: apikey " + testKey +
		"\r\nContent-Length: 104857600\r\n\r\n"
	c, r := rawRequest(t, addr, head, []byte(`{"channel":"a","data":"`))
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 || !res.Close {
		t.Fatalf("declared 100 MiB: %d, Connection: close %v", res.StatusCode, res.Close)
	}
	if _, err := io.ReadAll(r); err != nil { // the server closes the connection
		t.Fatalf("connection not closed after 413: %v", err)
	}
	c.Close()

	// Chunked, no length: reading stops one byte past the limit.
	head = "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: apikey " + testKey +
		"\r\nTransfer-Encoding: chunked\r\n\r\n"
	chunk := fmt.Sprintf("%x\r\n%s\r\n", 4096, strings.Repeat("y", 4096)) // then nothing: the body never ends
	_, r = rawRequest(t, addr, head, []byte(chunk))
	if res, err = http.ReadResponse(r, nil); err != nil || res.StatusCode != 413 {
		t.Fatalf("chunked over the limit: %v %v", res, err)
	}
	if calls := f.Calls(); len(calls) != 1 {
		t.Fatalf("node calls %q, want only the one within the limit", calls)
	}
}

func TestTimeout(t *testing.T) {
	base, f, _ := startAPI(t, Config{Timeout: 50 * time.Millisecond})
	f.block = make(chan struct{}) // the node never answers
	code, _, body := post(t, base+"/api/presence", testKey, `{"channel":"a"}`)
	if c, msg := errorOf(t, body); code != 503 || c != CodeUnavailable || msg != "timed out" {
		t.Fatalf("got %d %s", code, body)
	}
}

// Stop lets a call in flight finish and refuses new connections meanwhile.
func TestStopGraceful(t *testing.T) {
	base, f, l := startAPI(t, Config{})
	f.block = make(chan struct{})
	answered := make(chan string, 1)
	go func() {
		code, _, body := post(t, base+"/api/publish", testKey, `{"channel":"a","data":1}`)
		answered <- fmt.Sprint(code, " ", strings.TrimSpace(body))
	}()
	for len(f.Calls()) == 0 {
		time.Sleep(time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- l.Stop(ctx)
	}()
	for { // the listener closes at once
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) with a call in flight", err)
	default:
	}
	close(f.block)
	if got := <-answered; got != `200 {"result":{}}` {
		t.Fatalf("call in flight got %s", got)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// Past MaxConns a connection is not served until another closes.
func TestMaxConns(t *testing.T) {
	f := &fakeNode{}
	l, err := Serve(f, Config{Key: testKey}, ListenConfig{Addr: "127.0.0.1:0", MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop(context.Background())
	addr := l.Addr().String()
	req := "POST /api/info HTTP/1.1\r\nHost: x\r\nAuthorization: apikey " + testKey + "\r\nContent-Length: 0\r\n\r\n"
	var held []net.Conn
	for range 2 {
		c, r := rawRequest(t, addr, req, nil)
		if res, err := http.ReadResponse(r, nil); err != nil || res.StatusCode != 200 {
			t.Fatalf("within the cap: %v %v", res, err)
		}
		held = append(held, c) // kept alive
	}
	c3, r3 := rawRequest(t, addr, req, nil)
	c3.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := r3.Peek(1); err == nil {
		t.Fatal("a third connection was served past MaxConns 2")
	}
	held[0].Close()
	c3.SetReadDeadline(time.Now().Add(10 * time.Second))
	if res, err := http.ReadResponse(r3, nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("after a slot freed: %v %v", res, err)
	}
	// Stop does not hang on an Accept waiting for a slot.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Stop(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool1 := testcert.Write(t, dir, 1)
	f := &fakeNode{}
	l, err := Serve(f, Config{Key: testKey}, ListenConfig{Addr: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop(context.Background())
	if !l.TLS() {
		t.Fatal("TLS() false")
	}
	url := "https://" + l.Addr().String() + "/api/info"
	served := func(pool *x509.CertPool) (int64, int) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "apikey "+testKey)
		res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
		return res.TLS.PeerCertificates[0].SerialNumber.Int64(), res.ProtoMajor
	}
	if serial, proto := served(pool1); serial != 1 || proto != 2 {
		t.Fatalf("served certificate %d over HTTP/%d, want 1 over HTTP/2", serial, proto)
	}
	// A broken file keeps the old certificate.
	os.WriteFile(certFile, []byte("garbage"), 0o600)
	if err := l.ReloadTLS(); err == nil {
		t.Fatal("reload of a garbage certificate succeeded")
	}
	if serial, _ := served(pool1); serial != 1 {
		t.Fatalf("after a failed reload: certificate %d", serial)
	}
	_, _, pool2 := testcert.Write(t, dir, 2)
	if err := l.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if serial, _ := served(pool2); serial != 2 {
		t.Fatalf("after reload: certificate %d", serial)
	}
	// Plain HTTP on the TLS port is not served.
	if res, err := client.Post("http://"+l.Addr().String()+"/api/info", "application/json", nil); err == nil {
		res.Body.Close()
		if res.StatusCode != 400 {
			t.Errorf("plain HTTP on the TLS port: %d", res.StatusCode)
		}
	}
	if calls := f.Calls(); len(calls) != 3 {
		t.Fatalf("node calls %q", calls)
	}
}
