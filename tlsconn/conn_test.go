package tlsconn

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/wsedge/wsedge/internal/testcert"
	"github.com/wsedge/wsedge/poller"
)

// lineServer is a poller handler with the TLS layer on top: it answers each
// line with the line upper-cased; "bye" is answered last (WriteFinal) while
// a second goroutine keeps writing, which must all fail from then on.
type lineServer struct {
	cfg *Config

	mu        sync.Mutex
	handshake []error
	compact   []bool  // per handshake: on the compact record layer
	late      []error // writes attempted after the final one
	closed    []error
}

type lineConn struct {
	s *lineServer
	t *Conn
}

func (s *lineServer) OnOpen(c *poller.Conn) {
	lc := poller.State[lineConn](c)
	lc.s = s
	lc.t = Server(c, s.cfg, lc, 5*time.Second)
}

func (s *lineServer) OnData(c *poller.Conn, b []byte) (int, error) {
	return poller.State[lineConn](c).t.Feed(b)
}

func (s *lineServer) OnTimer(*poller.Conn, int64) {}

func (s *lineServer) OnClose(c *poller.Conn, err error) {
	poller.State[lineConn](c).t.Release()
	s.mu.Lock()
	s.closed = append(s.closed, err)
	s.mu.Unlock()
}

func (lc *lineConn) OnHandshake(err error) {
	lc.s.mu.Lock()
	lc.s.handshake = append(lc.s.handshake, err)
	lc.s.compact = append(lc.s.compact, err == nil && lc.t.Compact())
	lc.s.mu.Unlock()
}

func (lc *lineConn) OnPlain(b []byte) (int, error) {
	n := 0
	for {
		i := bytes.IndexByte(b[n:], '\n')
		if i < 0 {
			return n, nil
		}
		line := b[n : n+i]
		n += i + 1
		if string(line) == "bye" {
			if err := lc.t.WriteFinal([]byte("BYE\n")); err != nil {
				return n, err
			}
			err := lc.t.Write([]byte("after\n"))
			lc.s.mu.Lock()
			lc.s.late = append(lc.s.late, err)
			lc.s.mu.Unlock()
			lc.t.CloseAfterFlush(false)
			return len(b), nil
		}
		for j, c := range line { // in place: the plaintext is ours to change
			if 'a' <= c && c <= 'z' {
				line[j] = c - 'a' + 'A'
			}
		}
		if err := lc.t.Write2(line, b[n-1:n]); err != nil {
			return n, err
		}
	}
}

// tlsCase is one combination of record layer and client TLS version.
type tlsCase struct {
	layer       Layer
	version     uint16
	wantCompact bool
}

var tlsCases = []tlsCase{
	{Compact, tls.VersionTLS13, true},
	{Compact, tls.VersionTLS12, false}, // TLS 1.2 stays on crypto/tls
	{Stdlib, tls.VersionTLS13, false},
	{Stdlib, tls.VersionTLS12, false},
}

func (c tlsCase) String() string {
	return fmt.Sprintf("%s/%s", c.layer, tls.VersionName(c.version))
}

// forEachCase runs test for every record layer, TLS version and poller
// backend, with a fresh server.
func forEachCase(t *testing.T, test func(t *testing.T, tc tlsCase, s *lineServer, addr string, client *tls.Config)) {
	for _, tc := range tlsCases {
		for _, backend := range poller.Backends() {
			t.Run(tc.String()+"/"+backend, func(t *testing.T) {
				s, addr, pool := startLineServer(t, tc.layer, backend)
				client := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tc.version}
				test(t, tc, s, addr, client)
			})
		}
	}
}

func startLineServer(t testing.TB, layer Layer, backend string) (*lineServer, string, *x509.CertPool) {
	t.Helper()
	certFile, keyFile, pool := testcert.Write(t, t.TempDir(), 1)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	base := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s := &lineServer{cfg: NewConfig(base, layer, 0)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := poller.NewFor[lineConn](ln, poller.Config{Backend: backend, Loops: 2}, s)
	if err != nil {
		t.Fatal(err)
	}
	p.Serve()
	t.Cleanup(p.Stop)
	return s, p.Addr().String(), pool
}

// TestTLSLayer: handshake, records both ways across record and read
// boundaries, the same byte API as a plain poller connection, nothing
// sealed after WriteFinal, and close_notify after the final bytes.
func TestTLSLayer(t *testing.T) {
	forEachCase(t, func(t *testing.T, tc tlsCase, s *lineServer, addr string, client *tls.Config) {
		c, err := tls.Dial("tcp", addr, client)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		long := strings.Repeat("x", 100000) // several records each way
		go func() {
			io.WriteString(c, "hello\nwor")
			time.Sleep(10 * time.Millisecond)
			io.WriteString(c, "ld\n"+long+"\nbye\nignored\n")
		}()
		got, err := io.ReadAll(bufio.NewReader(c))
		want := "HELLO\nWORLD\n" + strings.ToUpper(long) + "\nBYE\n"
		// io.ReadAll returns nil at close_notify; without one crypto/tls
		// reports io.ErrUnexpectedEOF.
		if err != nil || string(got) != want {
			t.Fatalf("got %d bytes (%.40q...), err %v; want %d bytes ending in close_notify", len(got), got, err, len(want))
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.handshake) != 1 || s.handshake[0] != nil {
			t.Fatalf("handshakes: %v", s.handshake)
		}
		if s.compact[0] != tc.wantCompact {
			t.Fatalf("on the compact layer: %v, want %v", s.compact[0], tc.wantCompact)
		}
		if len(s.late) != 1 || !errors.Is(s.late[0], poller.ErrClosed) {
			t.Fatalf("write after WriteFinal: %v, want ErrClosed", s.late)
		}
	})
}

// TestTLSLayerPeerCloseNotify: the client's close_notify is answered with
// the server's after the replies to everything before it, then the
// connection ends.
func TestTLSLayerPeerCloseNotify(t *testing.T) {
	forEachCase(t, func(t *testing.T, tc tlsCase, s *lineServer, addr string, client *tls.Config) {
		c, err := tls.Dial("tcp", addr, client)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		// The lines and the close_notify leave together.
		io.WriteString(c, "one\ntwo\n")
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "ONE\nTWO\n" {
			t.Fatalf("got %q, %v; want the replies, then close_notify", got, err)
		}
		waitFor(t, "the server to close", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.closed) == 1
		})
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestConnSize: what the TLS layer adds per connection, besides the
// 144-byte tlsrecord.Conn of a compact session: 80 bytes is a size class
// of its own (one byte more costs 16).
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 80 {
		t.Fatalf("tlsconn.Conn is %d bytes, budget 80", n)
	}
}
