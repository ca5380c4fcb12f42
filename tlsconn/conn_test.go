package tlsconn

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/wsedge/wsedge/internal/testcert"
	"github.com/wsedge/wsedge/poller"
)

// lineServer is a poller handler with the TLS layer on top: it answers each
// line with the line upper-cased; "bye" is answered last (WriteFinal) while
// a second goroutine keeps writing, which must all fail from then on.
type lineServer struct {
	cfg  *tls.Config
	pool bytebufferpool.Pool

	mu        sync.Mutex
	handshake []error
	late      []error // writes attempted after the final one
}

type lineConn struct {
	s *lineServer
	t *Conn
}

func (s *lineServer) OnOpen(c *poller.Conn) {
	lc := &lineConn{s: s}
	lc.t = Server(c, s.cfg, lc, &s.pool, 5*time.Second)
	c.SetContext(lc)
}

func (s *lineServer) OnData(c *poller.Conn, b []byte) (int, error) {
	return len(b), c.Context().(*lineConn).t.Feed(b)
}

func (s *lineServer) OnTimer(*poller.Conn, int64) {}

func (s *lineServer) OnClose(c *poller.Conn, _ error) { c.Context().(*lineConn).t.Release() }

func (lc *lineConn) OnHandshake(err error) {
	lc.s.mu.Lock()
	lc.s.handshake = append(lc.s.handshake, err)
	lc.s.mu.Unlock()
}

func (lc *lineConn) OnPlain(b []byte) (int, error) {
	n := 0
	for {
		i := strings.IndexByte(string(b[n:]), '\n')
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
		if err := lc.t.Write2([]byte(strings.ToUpper(string(line))), []byte("\n")); err != nil {
			return n, err
		}
	}
}

// TestTLSLayer: handshake, records both ways across record and read
// boundaries, the same byte API as a plain poller connection, and nothing
// sealed after WriteFinal.
func TestTLSLayer(t *testing.T) {
	for _, backend := range poller.Backends() {
		t.Run(backend, func(t *testing.T) {
			certFile, keyFile, pool := testcert.Write(t, t.TempDir(), 1)
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			s := &lineServer{cfg: &tls.Config{Certificates: []tls.Certificate{cert}}}
			p, err := poller.Listen("127.0.0.1:0", poller.Config{Backend: backend, Loops: 2}, s)
			if err != nil {
				t.Fatal(err)
			}
			p.Serve()
			defer p.Stop()
			c, err := tls.Dial("tcp", p.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
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
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) || string(got) != want { // no close_notify: the WebSocket close handshake ended the session
				t.Fatalf("got %d bytes (%.40q...), err %v; want %d bytes", len(got), got, err, len(want))
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.handshake) != 1 || s.handshake[0] != nil {
				t.Fatalf("handshakes: %v", s.handshake)
			}
			if len(s.late) != 1 || !errors.Is(s.late[0], poller.ErrClosed) {
				t.Fatalf("write after WriteFinal: %v, want ErrClosed", s.late)
			}
		})
	}
}
