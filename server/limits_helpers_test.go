package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/codec"
)

// The edge-limit tests dial from several loopback source addresses
// (127.0.0.N: the whole 127/8 is local on Linux), so each N is a distinct
// client IP for the per-IP rate and caps.

// limDialer dials from 127.0.0.n.
func limDialer(n byte) *net.Dialer {
	return &net.Dialer{
		Timeout:   5 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, n)},
	}
}

// limDial opens a TCP connection from 127.0.0.n to addr, closed when the
// test ends.
func limDial(t testing.TB, addr string, n byte) net.Conn {
	t.Helper()
	c, err := limDialer(n).Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from 127.0.0.%d: %v", n, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// limRequest is an upgrade request with a chosen version and extra header
// lines (each ending in \r\n).
func limRequest(path, version, extra string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: " + version + "\r\n" + extra + "\r\n"
}

// limExchange sends req from 127.0.0.n and reads the response head (and,
// for anything but 101, its body).
func limExchange(t testing.TB, addr string, n byte, req string) (resp *http.Response, body string, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c = limDial(t, addr, n)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("write request: %v", err)
	}
	br = bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response to %q from 127.0.0.%d: %v", limFirstLine(req), n, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("refusal body: %v", err)
		}
		body = string(b)
	}
	return resp, body, c, br
}

func limFirstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// limRefused sends req from 127.0.0.n and checks that it is refused with
// status and a short text body, and that the server then closes the
// connection (a clean EOF, not a timeout or a reset).
func limRefused(t testing.TB, addr string, n byte, req string, status int) *http.Response {
	t.Helper()
	resp, body, c, br := limExchange(t, addr, n, req)
	if resp.StatusCode != status {
		t.Fatalf("%q from 127.0.0.%d: status %d (%q), want %d", limFirstLine(req), n, resp.StatusCode, body, status)
	}
	if strings.TrimSpace(body) == "" {
		t.Errorf("%q: status %d with an empty body, want a short text", limFirstLine(req), status)
	}
	limExpectEOF(t, c, br)
	c.Close()
	return resp
}

// limExpectEOF reads until the server closes; only a clean EOF passes.
func limExpectEOF(t testing.TB, c net.Conn, r io.Reader) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, r)
	switch {
	case isTimeout(err):
		t.Fatalf("the server did not close the connection after its answer")
	case err != nil:
		t.Fatalf("want EOF after the answer, got %v", err)
	case n != 0:
		t.Fatalf("%d unexpected bytes after the answer", n)
	}
}

// limUpgrade upgrades a connection from 127.0.0.n to path (extra header
// lines allowed) and fails the test on refusal.
func limUpgrade(t testing.TB, addr string, n byte, path, extra string) *rawClient {
	t.Helper()
	resp, body, c, br := limExchange(t, addr, n, limRequest(path, "13", extra))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade of %s from 127.0.0.%d (%q): status %d %q", path, n, extra, resp.StatusCode, body)
	}
	return &rawClient{t: t, conn: c, br: br}
}

// limTryUpgrade is limUpgrade for goroutines other than the test's: it
// reports failure as an error, and the caller closes the connection.
func limTryUpgrade(t testing.TB, addr string, n byte, path string) (*rawClient, error) {
	c, err := limDialer(n).Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, limRequest(path, "13", "")); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("upgrade from 127.0.0.%d: status %d", n, resp.StatusCode)
	}
	return &rawClient{t: t, conn: c, br: br}, nil
}

// limEcho sends one masked text message on /echo and checks the echo.
func limEcho(r *rawClient, msg string) error {
	if _, err := r.conn.Write(msgFrame(codec.OpText, true, msg)); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	f, err := r.next()
	if err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if f.op != codec.OpText || string(f.payload) != msg {
		return fmt.Errorf("echo: op %d %q, want text %q", f.op, f.payload, msg)
	}
	return nil
}

// limHealth is the in-process /health, which (unlike a request over the
// wire) holds no socket itself.
func limHealth(t testing.TB, s *Server) health {
	t.Helper()
	_, body := s.Health()
	var h health
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("health body %q: %v", body, err)
	}
	return h
}

// limChildHealth asks a child server's /health from 127.0.0.n. The answer
// counts the asking socket itself among "sockets".
func limChildHealth(addr string, n byte) (health, error) {
	var h health
	c, err := limDialer(n).Dial("tcp", addr)
	if err != nil {
		return h, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return h, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("health: status %d", resp.StatusCode)
	}
	return h, json.NewDecoder(resp.Body).Decode(&h)
}

// limWaitChild polls a child server's /health until cond holds, from a
// different source address each time (127.0.0.100-199), so the pollers
// stay within the per-IP connection rate.
func limWaitChild(t testing.TB, addr string, within time.Duration, what string, cond func(health) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	var h health
	var err error
	for i := 0; ; i++ {
		h, err = limChildHealth(addr, byte(100+i%100))
		if err == nil && cond(h) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: want %s; last /health %+v, %v", within, what, h, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// limRSS is the resident set size of process pid in bytes (VmRSS).
func limRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS line")
}
