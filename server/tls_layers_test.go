package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/internal/testcert"
	"github.com/wsedge/wsedge/poller"
)

// Both record layers (-tls-record-layer) behind the same server: which one
// a session lands on, data both ways, dropping idle cipher state, and a
// record under way counting for the read timeout.

var tlsLayerCases = []struct {
	layer, version, wantLayer string
	max                       uint16
}{
	{"compact", "1.3", "compact", tls.VersionTLS13},
	{"compact", "1.2", "stdlib", tls.VersionTLS12}, // TLS 1.2 stays on crypto/tls
	{"stdlib", "1.3", "stdlib", tls.VersionTLS13},
	{"stdlib", "1.2", "stdlib", tls.VersionTLS12},
}

func tlsServer(t *testing.T, o Options) (*Server, *x509.CertPool) {
	t.Helper()
	certFile, keyFile, pool := testcert.Write(t, t.TempDir(), 1)
	o.TLSCert, o.TLSKey = certFile, keyFile
	return startServer(t, o), pool
}

func dialWSS(t testing.TB, s *Server, pool *x509.CertPool, maxVersion uint16) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: maxVersion}, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("wss://"+s.Addr().String()+"/echo", nil)
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	return c
}

func echoOnce(t testing.TB, c *websocket.Conn, msg []byte) {
	t.Helper()
	if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
		t.Fatalf("write %d bytes: %v", len(msg), err)
	}
	_, got, err := c.ReadMessage()
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo of %d bytes: got %d bytes, %v", len(msg), len(got), err)
	}
}

// TestTLSRecordLayers: each layer and TLS version echoes messages of every
// size around the record and frame boundaries, and the session is counted
// on the layer it really uses.
func TestTLSRecordLayers(t *testing.T) {
	for _, tc := range tlsLayerCases {
		t.Run(tc.layer+"/"+tc.version, func(t *testing.T) {
			o := testOptions()
			o.TLSRecordLayer = tc.layer
			o.MaxMessageSize = 1 << 20
			s, pool := tlsServer(t, o)
			c := dialWSS(t, s, pool, tc.max)
			for _, n := range []int{0, 1, 125, 126, 16384 - 2, 16384, 16385, 65536, 300000} {
				echoOnce(t, c, bytes.Repeat([]byte{byte('a' + n%26)}, n))
			}
			for _, l := range []string{"compact", "stdlib"} {
				for _, v := range []string{"1.2", "1.3"} {
					want := 0.0
					if l == tc.wantLayer && v == tc.version {
						want = 1
					}
					if got := counterValue(t, s.Metrics().TLSSessions.WithLabelValues(l, v)); got != want {
						t.Errorf("wsedge_tls_sessions_total{record_layer=%q,version=%q} = %v, want %v", l, v, got, want)
					}
				}
			}
		})
	}
}

// cipherHeld reports, for every connection of s, whether its TLS layer
// holds cipher state (read on the loops).
func cipherHeld(s *Server) []bool {
	var mu sync.Mutex
	var held []bool
	s.poll.Each(func(c *poller.Conn) {
		if w := poller.State[wsConn](c); w != nil && w.tls() != nil && w.upgraded() {
			mu.Lock()
			held = append(held, w.tls().CipherHeld())
			mu.Unlock()
		}
	})
	return held
}

// TestTLSCipherIdleDrop: a compact session quiet for -tls-cipher-idle drops
// its cipher state and derives it again when data flows, in both
// directions; heartbeats do not keep it (they pass, and the state goes
// again). crypto/tls sessions keep theirs.
func TestTLSCipherIdleDrop(t *testing.T) {
	const idle = 50 * time.Millisecond
	for _, tc := range tlsLayerCases {
		t.Run(tc.layer+"/"+tc.version, func(t *testing.T) {
			o := timeoutOptions()
			o.TLSRecordLayer = tc.layer
			o.TLSCipherIdle = idle
			o.PingInterval = 300 * time.Millisecond
			s, pool := tlsServer(t, o)
			c := dialWSS(t, s, pool, tc.max)
			pongs := make(chan struct{}, 100)
			c.SetPingHandler(func(p string) error {
				pongs <- struct{}{}
				return c.WriteControl(websocket.PongMessage, []byte(p), time.Now().Add(time.Second))
			})
			go func() { // gorilla answers pings while it reads
				for {
					if _, _, err := c.NextReader(); err != nil {
						return
					}
				}
			}()
			dropped := func() bool {
				h := cipherHeld(s)
				return len(h) == 1 && !h[0]
			}
			if tc.wantLayer == "stdlib" {
				time.Sleep(4 * idle)
				if dropped() {
					t.Fatal("a crypto/tls session reports its cipher state dropped")
				}
				return
			}
			waitFor(t, 5*time.Second, "the idle session to drop its cipher state", dropped)
			// Two heartbeats later: each derived the state again (the
			// ping sealed, the pong opened) and it was dropped again.
			for i := 0; i < 2; i++ {
				select {
				case <-pongs:
				case <-time.After(5 * time.Second):
					t.Fatal("no ping from the server")
				}
			}
			waitFor(t, 5*time.Second, "the state to be dropped after the heartbeats", dropped)
			if got := counterValue(t, s.Metrics().PongsReceived); got < 2 {
				t.Fatalf("pongs received = %v, want at least 2", got)
			}
			if got := counterValue(t, s.Metrics().TLSCipherDrops); got < 3 {
				t.Fatalf("wsedge_tls_cipher_drops_total = %v, want at least 3 (after the upgrade, after each heartbeat)", got)
			}
		})
	}
}

// TestTLSCipherIdleEcho: data after every drop still decrypts both ways
// (the sequence numbers went on, the keys came back the same).
func TestTLSCipherIdleEcho(t *testing.T) {
	o := timeoutOptions()
	o.TLSCipherIdle = 20 * time.Millisecond
	o.MaxMessageSize = 1 << 20
	s, pool := tlsServer(t, o)
	c := dialWSS(t, s, pool, 0)
	for i := 0; i < 4; i++ {
		waitFor(t, 5*time.Second, "the cipher state to be dropped", func() bool {
			h := cipherHeld(s)
			return len(h) == 1 && !h[0]
		})
		echoOnce(t, c, bytes.Repeat([]byte{'x'}, 1+i*40000))
	}
	if got := counterValue(t, s.Metrics().TLSCipherDrops); got < 4 {
		t.Fatalf("drops = %v, want at least 4", got)
	}
}

// holdConn passes writes through to the socket, or collects them while
// held, so a test can send part of a record.
type holdConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	kept []byte
}

func (h *holdConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hold {
		h.kept = append(h.kept, p...)
		return len(p), nil
	}
	return h.Conn.Write(p)
}

// TestTLSPartialRecordReadTimeout: a client that sends part of a record and
// stalls is closed by -read-timeout (1008), as one that stalls inside a
// frame: the bytes it trickles do not count as progress.
func TestTLSPartialRecordReadTimeout(t *testing.T) {
	const rt = 300 * time.Millisecond
	for _, layer := range []string{"compact", "stdlib"} {
		t.Run(layer, func(t *testing.T) {
			o := timeoutOptions()
			o.ReadTimeout = rt
			o.TLSRecordLayer = layer
			s, pool := tlsServer(t, o)
			raw := rawDial(t, s)
			hc := &holdConn{Conn: raw}
			tc := tls.Client(hc, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			io.WriteString(tc, upgradeRequest("/echo", ""))
			br := bufio.NewReader(tc)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 101 {
				t.Fatalf("upgrade: %v %v", resp, err)
			}
			hc.mu.Lock()
			hc.hold = true
			hc.mu.Unlock()
			tc.Write(frame(true, 0, codec.OpText, true, []byte("never completed")))
			hc.mu.Lock()
			record := hc.kept
			hc.mu.Unlock()
			start := time.Now()
			// A few bytes of the record, one at a time, slower than
			// nothing at all but faster than the read timeout.
			for i := 0; i < 4; i++ {
				raw.Write(record[i : i+1])
				time.Sleep(rt / 4)
			}
			rc := &rawClient{t: t, conn: tc, br: br}
			f, err := rc.nextFrame(5 * rt)
			if err != nil {
				t.Fatalf("no close frame: %v", err)
			}
			if f.op != codec.OpClose || closeCode(f) != 1008 {
				t.Fatalf("got opcode %d code %d, want a close frame 1008", f.op, closeCode(f))
			}
			checkElapsed(t, "stalled record closed", time.Since(start), rt)
			if got := timeouts(t, s, "read"); got != 1 {
				t.Fatalf("read timeouts = %v, want 1", got)
			}
		})
	}
}
