package tlsrecord

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// handshakeOnce runs one handshake on a loopback pair and returns the
// server's Handshake (switched or not) and the client's conn.
func handshakeOnce(t *testing.T, acc *Acceptor, clientCfg *tls.Config) (*Handshake, *tls.Conn) {
	t.Helper()
	ln := listen(t)
	type result struct {
		hs  *Handshake
		err error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		hs := acc.Server(raw)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- result{hs, hs.TLS().HandshakeContext(ctx)}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.hs, c
}

// TestTLSConnUnusableAfterSwitch: crypto/tls's write sequence number is
// behind ours after the switch, so anything it sealed would reuse a nonce.
// Its transport refuses every write, close_notify included.
func TestTLSConnUnusableAfterSwitch(t *testing.T) {
	base, files := serverConfig(t)
	hs, client := handshakeOnce(t, NewAcceptor(base), &tls.Config{RootCAs: files.pool, ServerName: "127.0.0.1"})
	rec, err := hs.Switch()
	if err != nil {
		t.Fatal(err)
	}
	tc := hs.TLS()
	if _, err := tc.Write([]byte("stale")); !errors.Is(err, errSwitched) {
		t.Fatalf("tls.Conn.Write after Switch: %v, want it refused", err)
	}
	if _, err := tc.Read(make([]byte, 10)); err == nil {
		t.Fatal("tls.Conn.Read after Switch succeeded")
	}
	// close_notify from crypto/tls would reuse its old sequence number.
	// (CloseWrite also sets the transport's write deadline to "now".)
	if err := tc.CloseWrite(); err == nil {
		t.Fatal("tls.Conn.CloseWrite after Switch succeeded")
	}
	if err := tc.Close(); err == nil {
		t.Fatal("tls.Conn.Close after Switch reached the transport")
	}
	// The client must see nothing but our own record.
	raw := hs.hc.Conn
	out, _ := rec.Seal(nil, []byte("ours"))
	raw.Write(out)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, err := client.Read(buf)
	if err != nil || string(buf[:n]) != "ours" {
		t.Fatalf("client read %q, %v; want only our record", buf[:n], err)
	}
}

// TestSwitchReleasesHandshake: after the switch, nothing of crypto/tls's
// connection (its buffers and cipher states, ~7 KB) stays reachable from
// the record layer.
func TestSwitchReleasesHandshake(t *testing.T) {
	base, files := serverConfig(t)
	hs, _ := handshakeOnce(t, NewAcceptor(base), &tls.Config{RootCAs: files.pool, ServerName: "127.0.0.1"})
	freed := make(chan struct{})
	runtime.AddCleanup(hs.TLS(), func(ch chan struct{}) { close(ch) }, freed)
	rec, err := hs.Switch()
	if err != nil {
		t.Fatal(err)
	}
	hs = nil
	for i := 0; i < 50; i++ {
		runtime.GC()
		select {
		case <-freed:
			runtime.KeepAlive(rec)
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("the *tls.Conn stayed reachable after Switch")
}

func TestKeyLog(t *testing.T) {
	r1 := strings.Repeat("ab", 32)
	r2 := strings.Repeat("cd", 32)
	s32 := strings.Repeat("11", 32)
	s48 := strings.Repeat("22", 48)
	for _, tc := range []struct {
		name  string
		lines []string
		ok    bool
	}{
		{"both traffic secrets", []string{"CLIENT_HANDSHAKE_TRAFFIC_SECRET " + r1 + " " + s32, "CLIENT_TRAFFIC_SECRET_0 " + r1 + " " + s32, "SERVER_TRAFFIC_SECRET_0 " + r1 + " " + s32}, true},
		{"SHA-384 secrets", []string{"CLIENT_TRAFFIC_SECRET_0 " + r1 + " " + s48, "SERVER_TRAFFIC_SECRET_0 " + r1 + " " + s48}, true},
		{"server secret missing", []string{"CLIENT_TRAFFIC_SECRET_0 " + r1 + " " + s32}, false},
		{"another handshake's random", []string{"CLIENT_TRAFFIC_SECRET_0 " + r1 + " " + s32, "SERVER_TRAFFIC_SECRET_0 " + r2 + " " + s32}, false},
		{"a secret logged twice", []string{"CLIENT_TRAFFIC_SECRET_0 " + r1 + " " + s32, "CLIENT_TRAFFIC_SECRET_0 " + r1 + " " + s32, "SERVER_TRAFFIC_SECRET_0 " + r1 + " " + s32}, false},
		{"lengths differ", []string{"CLIENT_TRAFFIC_SECRET_0 " + r1 + " " + s32, "SERVER_TRAFFIC_SECRET_0 " + r1 + " " + s48}, false},
		{"not hex", []string{"CLIENT_TRAFFIC_SECRET_0 " + r1 + " " + strings.Repeat("zz", 32), "SERVER_TRAFFIC_SECRET_0 " + r1 + " " + s32}, false},
		{"short random", []string{"CLIENT_TRAFFIC_SECRET_0 abcd " + s32, "SERVER_TRAFFIC_SECRET_0 abcd " + s32}, false},
		{"TLS 1.2 master secret only", []string{"CLIENT_RANDOM " + r1 + " " + s48}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tee bytes.Buffer
			l := keyLog{tee: &tee}
			for _, line := range tc.lines {
				if n, err := l.Write([]byte(line + "\n")); err != nil || n != len(line)+1 {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if _, _, ok := l.secrets(); ok != tc.ok {
				t.Fatalf("secrets ok = %v, want %v", ok, tc.ok)
			}
			if tee.Len() == 0 {
				t.Fatal("the base KeyLogWriter got nothing")
			}
		})
	}
}

// TestBaseGetConfigForClient: the caller's own GetConfigForClient still
// decides the config; the switch works on top of it.
func TestBaseGetConfigForClient(t *testing.T) {
	base, files := serverConfig(t)
	perClient := base.Clone()
	perClient.NextProtos = []string{"picked"}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return perClient, nil }
	hs, client := handshakeOnce(t, NewAcceptor(base), &tls.Config{RootCAs: files.pool, ServerName: "127.0.0.1", NextProtos: []string{"picked"}})
	if p := client.ConnectionState().NegotiatedProtocol; p != "picked" {
		t.Fatalf("ALPN %q: the base GetConfigForClient was not used", p)
	}
	rec, err := hs.Switch()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := rec.Seal(nil, []byte("ok"))
	hs.hc.Conn.Write(out)
	buf := make([]byte, 2)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

// holdConn passes the first write (the ClientHello) and holds the rest
// until flush, so the client's Finished and its first data reach the
// server in one segment.
type holdConn struct {
	net.Conn
	writes int
	held   []byte
}

func (h *holdConn) Write(p []byte) (int, error) {
	if h.writes++; h.writes == 1 {
		return h.Conn.Write(p)
	}
	h.held = append(h.held, p...)
	return len(p), nil
}

func (h *holdConn) flush() error {
	h.Conn.SetWriteDeadline(time.Time{}) // CloseWrite set it to "now"
	_, err := h.Conn.Write(h.held)
	return err
}

// TestDataCoalescedWithFinished: application data that arrives together
// with the client's Finished is left to the record layer, not swallowed by
// crypto/tls.
func TestDataCoalescedWithFinished(t *testing.T) {
	base, files := serverConfig(t)
	ln := listen(t)
	res := echoServer(t, ln, NewAcceptor(base), base, true, []byte("hi"), 0)
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	hold := &holdConn{Conn: raw}
	c := tls.Client(hold, &tls.Config{RootCAs: files.pool, ServerName: "127.0.0.1"})
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "sent with the Finished")
	c.CloseWrite()
	if err := hold.flush(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hisent with the Finished" {
		t.Fatalf("client read %q, %v", got, err)
	}
	if r := <-res; r.err != nil || !r.switched {
		t.Fatalf("server: %v (switched %v, %v)", r.err, r.switched, r.switchError)
	}
}
