package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/limits"
)

// Over-the-wire tests of the edge limits: every refusal with its status and
// headers, per-IP isolation, caps that come back after every kind of
// disconnect, trusted proxies, the message rate, and a connection flood.

// TestLimitsRefusals sends requests that must be refused before the
// upgrade and checks the status, a text body, that the server closes the
// connection after its answer, and the refusal metric. The headers of each
// kind of refusal are TestLimitsRefusalHeaders' job.
func TestLimitsRefusals(t *testing.T) {
	s := startServer(t, testOptions())
	addr := s.Addr().String()
	cases := []struct {
		name   string
		req    string
		status int
	}{
		{"garbage lowercase", "hello there\r\n\r\n", 400},
		{"garbage binary", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400},
		{"garbage request line", "GARBAGE\r\n\r\n", 400},
		{"no HTTP version", "GET /ws\r\nHost: x\r\n\r\n", 400},
		{"head too large", "GET /ws HTTP/1.1\r\nX-Pad: " + strings.Repeat("a", 9000), 400},
		{"missing key", "GET /ws HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
		{"unknown path", limRequest("/nope", "13", ""), 404},
		{"unknown path plain", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"plain GET on /ws", "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", 426},
		{"plain GET on /echo", "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", 426},
		{"version 8", limRequest("/ws", "8", ""), 426},
		{"version 14 on /echo", limRequest("/echo", "14", ""), 426},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			limRefused(t, addr, byte(20+i), tc.req, tc.status)
		})
	}
	// The refusals above are counted by reason.
	for reason, want := range map[string]float64{
		"bad_request": 6, "not_found": 2, "not_websocket": 2, "version": 2,
	} {
		if got := counterValue(t, s.Metrics().Rejected.WithLabelValues(string(reason))); got != want {
			t.Errorf("rejected{reason=%q} = %v, want %v", reason, got, want)
		}
	}
}

// TestLimitsRefusalHeaders produces every refusal (its answer written by
// wsedge itself or through gobwas's upgrader, for direct peers and behind a
// trusted proxy) and checks the headers of the answer:
//   - "Connection: close" on all: the server closes after every refusal and
//     keeps no HTTP connection open, so it must say so (RFC 9112 9.6);
//   - Retry-After (whole seconds, at least 1) on the rate refusal only: a cap
//     frees up when some connection ends, not at a time the server knows,
//     and the header is what tells a client the rate refused it;
//   - "Upgrade: websocket" (RFC 9110 15.5.22: a 426 must name the protocol)
//     and "Sec-WebSocket-Version: 13" (RFC 6455 4.4) on both 426 answers.
func TestLimitsRefusalHeaders(t *testing.T) {
	const proxy = "127.0.0.1/32"
	xff := "X-Forwarded-For: 203.0.113.7\r\n"
	hold := func(extra string) func(t *testing.T, addr string, src byte) {
		return func(t *testing.T, addr string, src byte) { limUpgrade(t, addr, src, "/ws", extra) }
	}
	spend := func(extra string) func(t *testing.T, addr string, src byte) {
		return func(t *testing.T, addr string, src byte) { limUpgrade(t, addr, src, "/ws", extra).conn.Close() }
	}
	cases := []struct {
		name   string
		opts   func(o *Options)
		setup  func(t *testing.T, addr string, src byte) // uses up a limit first
		src    byte
		req    string
		status int
		retry  bool
	}{
		{name: "bad request (head)", req: "hello\r\n\r\n", status: 400},
		{name: "bad request (upgrade)", req: "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", status: 400},
		{name: "version", req: limRequest("/ws", "8", ""), status: 426},
		{name: "not websocket", req: "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", status: 426},
		{name: "not found", req: limRequest("/nope", "13", ""), status: 404},
		{name: "origin", req: limRequest("/ws", "13", "Origin: http://evil.test\r\n"), status: 403},
		{name: "origin behind proxy", opts: func(o *Options) { o.TrustedProxies = proxy }, src: 1,
			req: limRequest("/ws", "13", "Origin: http://evil.test\r\n"+xff), status: 403},
		{name: "ip rate", opts: func(o *Options) { o.ConnRate, o.ConnBurst = 1, 1 }, setup: spend(""),
			req: limRequest("/ws", "13", ""), status: 429, retry: true},
		{name: "ip rate behind proxy", opts: func(o *Options) { o.ConnRate, o.ConnBurst, o.TrustedProxies = 1, 1, proxy }, src: 1,
			setup: spend(xff), req: limRequest("/ws", "13", xff), status: 429, retry: true},
		{name: "ip cap", opts: func(o *Options) { o.MaxConnsPerIP = 1 }, setup: hold(""),
			req: limRequest("/ws", "13", ""), status: 429},
		{name: "ip cap behind proxy", opts: func(o *Options) { o.MaxConnsPerIP, o.TrustedProxies = 1, proxy }, src: 1,
			setup: hold(xff), req: limRequest("/ws", "13", xff), status: 429},
		{name: "global cap", opts: func(o *Options) { o.MaxConns = 1 }, setup: hold(""),
			req: limRequest("/ws", "13", ""), status: 503},
		{name: "global cap behind proxy", opts: func(o *Options) { o.MaxConns, o.TrustedProxies = 1, proxy }, src: 1,
			setup: hold(xff), req: limRequest("/ws", "13", xff), status: 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			s := startServer(t, o)
			addr := s.Addr().String()
			src := tc.src
			if src == 0 {
				src = 2
			}
			if tc.setup != nil {
				tc.setup(t, addr, src)
			}
			resp := limRefused(t, addr, src, tc.req, tc.status)
			if !resp.Close {
				t.Errorf("%d answer without \"Connection: close\" (headers %v)", tc.status, resp.Header)
			}
			switch ra := resp.Header.Get("Retry-After"); {
			case tc.retry:
				if n, err := strconv.Atoi(ra); err != nil || n < 1 {
					t.Errorf("Retry-After %q, want whole seconds, at least 1", ra)
				}
			case ra != "":
				t.Errorf("%d answer carries Retry-After: %s; only the rate refusal has one", tc.status, ra)
			}
			if tc.status == 426 {
				for k, v := range map[string]string{"Upgrade": "websocket", "Sec-WebSocket-Version": "13"} {
					if got := resp.Header.Get(k); !strings.EqualFold(got, v) {
						t.Errorf("426 answer: %s %q, want %q", k, got, v)
					}
				}
			}
		})
	}
}

// TestLimitsOrigin checks -allowed-origins on the wire: allowed origins
// upgrade, others get 403 and the connection is closed.
func TestLimitsOrigin(t *testing.T) {
	type check struct {
		origin string // "" sends no Origin header
		ok     bool
	}
	for _, pol := range []struct {
		allowed string
		checks  []check
	}{
		{"", []check{ // no Origin, or the request's own host (example.test)
			{"", true},
			{"http://example.test", true},
			{"http://EXAMPLE.test:80", true},
			{"http://evil.test", false},
			{"http://example.test:8080", false},
			{"http://example.test.evil.net", false},
			{"null", false},
		}},
		{"https://*.example.com", []check{
			{"", true},
			{"https://app.example.com", true},
			{"https://App.Example.COM:443", true},
			{"https://example.com.evil.net", false},
			{"https://app.example.com.evil.net", false},
			{"http://app.example.com", false},
			{"https://a.b.example.com", false},
			{"https://example.com", false},
			{"https://app.example.com:8443", false},
			{"http://example.test", false}, // a list replaces the same-host default
			{"null", false},
		}},
	} {
		t.Run("allowed="+pol.allowed, func(t *testing.T) {
			o := testOptions()
			o.AllowedOrigins = pol.allowed
			s := startServer(t, o)
			addr := s.Addr().String()
			refused := 0
			for i, c := range pol.checks {
				extra := ""
				if c.origin != "" {
					extra = "Origin: " + c.origin + "\r\n"
				}
				if c.ok {
					r := limUpgrade(t, addr, byte(40+i), "/ws", extra)
					r.conn.Close()
					continue
				}
				refused++
				limRefused(t, addr, byte(40+i), limRequest("/ws", "13", extra), http.StatusForbidden)
			}
			if got := counterValue(t, s.Metrics().Rejected.WithLabelValues(string(limits.ReasonOrigin))); got != float64(refused) {
				t.Errorf("rejected{reason=origin} = %v, want %d", got, refused)
			}
		})
	}
}

// TestLimitsConnRate: -conn-burst connections pass, the next gets 429 with
// Retry-After of at least a second, and another address keeps its own
// bucket.
func TestLimitsConnRate(t *testing.T) {
	o := testOptions()
	o.ConnRate = 1 // per minute: no refill while the test runs
	o.ConnBurst = 3
	s := startServer(t, o)
	addr := s.Addr().String()
	for _, ip := range []byte{2, 3} {
		for i := 0; i < o.ConnBurst; i++ {
			r := limUpgrade(t, addr, ip, "/echo", "")
			if err := limEcho(r, "hi"); err != nil {
				t.Fatal(err)
			}
			r.conn.Close()
		}
		for i := 0; i < 2; i++ {
			resp := limRefused(t, addr, ip, limRequest("/echo", "13", ""), http.StatusTooManyRequests)
			ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 60 {
				t.Fatalf("127.0.0.%d: Retry-After %q, want whole seconds in [1, 60]", ip, resp.Header.Get("Retry-After"))
			}
		}
	}
	// Every kind of request spends a token: a plain GET from a drained
	// address is refused before it is read.
	limRefused(t, addr, 2, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusTooManyRequests)
	if got := counterValue(t, s.Metrics().Rejected.WithLabelValues(string(limits.ReasonIPRate))); got != 5 {
		t.Errorf("rejected{reason=ip_rate} = %v, want 5", got)
	}
	// A fresh address is unaffected.
	limUpgrade(t, addr, 4, "/ws", "").conn.Close()
}

// TestLimitsCapPerIP: -max-conns-per-ip open connections per address, the next
// gets 429; another address has its own cap; closing one frees a slot.
func TestLimitsCapPerIP(t *testing.T) {
	o := testOptions()
	o.MaxConnsPerIP = 2
	s := startServer(t, o)
	addr := s.Addr().String()
	held := map[byte][]*rawClient{}
	for _, ip := range []byte{2, 3} {
		for i := 0; i < o.MaxConnsPerIP; i++ {
			held[ip] = append(held[ip], limUpgrade(t, addr, ip, "/ws", ""))
		}
		limRefused(t, addr, ip, limRequest("/ws", "13", ""), http.StatusTooManyRequests)
		limRefused(t, addr, ip, limRequest("/echo", "13", ""), http.StatusTooManyRequests)
	}
	if got := counterValue(t, s.Metrics().Rejected.WithLabelValues(string(limits.ReasonIPCap))); got != 4 {
		t.Errorf("rejected{reason=ip_cap} = %v, want 4", got)
	}
	ip2 := netip.MustParseAddr("127.0.0.2")
	held[2][0].conn.Close()
	waitFor(t, 5*time.Second, "127.0.0.2's slot to come back", func() bool { return s.adm.Caps.PerIP(ip2) == 1 })
	r := limUpgrade(t, addr, 2, "/echo", "")
	if err := limEcho(r, "again"); err != nil {
		t.Fatal(err)
	}
	limRefused(t, addr, 2, limRequest("/ws", "13", ""), http.StatusTooManyRequests)
}

// TestLimitsCapGlobal: -max-conns connections in total, the next (from any
// address) gets 503 until one closes.
func TestLimitsCapGlobal(t *testing.T) {
	o := testOptions()
	o.MaxConns = 3
	s := startServer(t, o)
	addr := s.Addr().String()
	var held []*rawClient
	for ip := byte(2); ip < 5; ip++ {
		held = append(held, limUpgrade(t, addr, ip, "/ws", ""))
	}
	limRefused(t, addr, 5, limRequest("/ws", "13", ""), http.StatusServiceUnavailable)
	limRefused(t, addr, 2, limRequest("/echo", "13", ""), http.StatusServiceUnavailable)
	if got := counterValue(t, s.Metrics().Rejected.WithLabelValues(string(limits.ReasonGlobalCap))); got != 2 {
		t.Errorf("rejected{reason=global_cap} = %v, want 2", got)
	}
	held[0].conn.Close()
	waitFor(t, 5*time.Second, "a global slot to come back", func() bool { return s.adm.Caps.Active() == 2 })
	limUpgrade(t, addr, 5, "/echo", "")
	limRefused(t, addr, 6, limRequest("/ws", "13", ""), http.StatusServiceUnavailable)
}

// TestLimitsLoopbackExempt: without LimitLoopback (-limit-loopback), loopback
// peers skip the per-IP rate and cap but not the global cap, while clients
// named by a trusted loopback proxy are still limited per IP.
func TestLimitsLoopbackExempt(t *testing.T) {
	o := testOptions()
	o.LimitLoopback = false
	o.MaxConnsPerIP = 1
	o.ConnRate, o.ConnBurst = 1, 1
	o.MaxConns = 4
	o.TrustedProxies = "127.0.0.1/32"
	s := startServer(t, o)
	addr := s.Addr().String()
	var held []*rawClient
	for i := 0; i < 3; i++ {
		held = append(held, limUpgrade(t, addr, 2, "/echo", ""))
	}
	if got := s.adm.Caps.PerIP(netip.MustParseAddr("127.0.0.2")); got != 0 {
		t.Fatalf("exempt loopback peer holds %d per-IP slots", got)
	}
	xff := "X-Forwarded-For: 203.0.113.7\r\n"
	limUpgrade(t, addr, 1, "/echo", xff)
	limRefused(t, addr, 3, limRequest("/echo", "13", ""), http.StatusServiceUnavailable)
	limRefused(t, addr, 1, limRequest("/echo", "13", xff), http.StatusTooManyRequests) // the rate comes first
	limRefused(t, addr, 1, limRequest("/echo", "13", "X-Forwarded-For: 203.0.113.8\r\n"), http.StatusServiceUnavailable)
	held[0].conn.Close()
	waitFor(t, 5*time.Second, "a global slot to come back", func() bool { return s.adm.Caps.Active() == 3 })
	limUpgrade(t, addr, 3, "/echo", "")
}

// TestLimitsCapsAfterDisconnects ends connections from one address in every way a
// connection can end, then checks that its cap and the server's counts are
// back to zero and that the full cap is available again.
func TestLimitsCapsAfterDisconnects(t *testing.T) {
	const ip = 4
	kinds := []struct {
		name string
		run  func(t *testing.T, addr string)
	}{
		{"close handshake", func(t *testing.T, addr string) {
			r := limUpgrade(t, addr, ip, "/echo", "")
			r.send(frame(true, 0, codec.OpClose, true, closePayload(1000, "bye")))
			r.expectClose(codec.CloseNormal)
		}},
		{"TCP close without close frame", func(t *testing.T, addr string) {
			r := limUpgrade(t, addr, ip, "/ws", "")
			r.conn.Close()
		}},
		{"TCP reset", func(t *testing.T, addr string) {
			r := limUpgrade(t, addr, ip, "/echo", "")
			r.send(msgFrame(codec.OpText, false, "half a mess")) // unfinished message left behind
			_ = r.conn.(*net.TCPConn).SetLinger(0)
			r.conn.Close()
		}},
		{"protocol violation", func(t *testing.T, addr string) {
			r := limUpgrade(t, addr, ip, "/echo", "")
			r.send(frame(true, 0, codec.OpText, false, []byte("unmasked")))
			r.expectClose(codec.CloseProtocolError)
		}},
		{"binary on /ws", func(t *testing.T, addr string) {
			r := limUpgrade(t, addr, ip, "/ws", "")
			r.send(msgFrame(codec.OpBinary, true, "\x00\x01"))
			r.expectClose(codec.CloseUnsupportedData)
		}},
		{"idle timeout", func(t *testing.T, addr string) {
			r := limUpgrade(t, addr, ip, "/ws", "")
			f, err := r.nextFrame(5 * time.Second)
			if err != nil || f.op != codec.OpClose || closeCode(f) != codec.CloseGoingAway {
				t.Fatalf("want close 1001 on idle, got %+v %v", f, err)
			}
			r.send(frame(true, 0, codec.OpClose, true, closePayload(1001, "")))
			r.expectEOF()
		}},
		{"origin refused after admission", func(t *testing.T, addr string) {
			limRefused(t, addr, ip, limRequest("/ws", "13", "Origin: http://evil.test\r\n"), http.StatusForbidden)
		}},
		{"unknown path", func(t *testing.T, addr string) {
			limRefused(t, addr, ip, limRequest("/nope", "13", ""), http.StatusNotFound)
		}},
		{"garbage", func(t *testing.T, addr string) {
			limRefused(t, addr, ip, "\x00\x01\x02garbage", http.StatusBadRequest)
		}},
		{"handshake timeout", func(t *testing.T, addr string) {
			c := limDial(t, addr, ip)
			io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\n")
			expectTCPEnd(t, c, 5*time.Second)
		}},
		{"closed before the request", func(t *testing.T, addr string) {
			limDial(t, addr, ip).Close()
		}},
		{"health", func(t *testing.T, addr string) {
			resp, body, c, br := limExchange(t, addr, ip, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
				t.Fatalf("health: %d %q", resp.StatusCode, body)
			}
			limExpectEOF(t, c, br)
		}},
	}
	o := testOptions()
	o.MaxConnsPerIP = len(kinds)
	o.Tick = 10 * time.Millisecond
	o.PingInterval = 0
	o.IdleTimeout = time.Second
	o.HandshakeTimeout = time.Second
	s := startServer(t, o)
	addr := s.Addr().String()
	key := netip.MustParseAddr("127.0.0.4")

	zero := func(t *testing.T) {
		t.Helper()
		waitFor(t, 8*time.Second, "caps, sockets and connections back to 0", func() bool {
			h := limHealth(t, s)
			return s.adm.Caps.PerIP(key) == 0 && s.adm.Caps.Active() == 0 && h.Sockets == 0 && h.Connections == 0
		})
	}
	t.Run("kinds", func(t *testing.T) {
		for _, k := range kinds {
			t.Run(k.name, func(t *testing.T) {
				t.Parallel()
				k.run(t, addr)
			})
		}
	})
	if t.Failed() {
		return
	}
	zero(t)

	// The whole cap is available again, and no more.
	var held []*rawClient
	for i := 0; i < o.MaxConnsPerIP; i++ {
		held = append(held, limUpgrade(t, addr, ip, "/echo", ""))
	}
	limRefused(t, addr, ip, limRequest("/echo", "13", ""), http.StatusTooManyRequests)
	if got := s.adm.Caps.PerIP(key); got != o.MaxConnsPerIP {
		t.Fatalf("127.0.0.4 holds %d slots, want %d", got, o.MaxConnsPerIP)
	}
	for _, r := range held {
		if err := limEcho(r, "x"); err != nil {
			t.Fatal(err)
		}
		r.conn.Close()
	}
	zero(t)
}

// TestLimitsTrustedProxy: from a trusted proxy, X-Forwarded-For names the
// client that per-IP limits count; from anyone else it is ignored.
func TestLimitsTrustedProxy(t *testing.T) {
	xff := func(v string) string { return "X-Forwarded-For: " + v + "\r\n" }
	t.Run("caps", func(t *testing.T) {
		o := testOptions()
		o.MaxConnsPerIP = 2
		o.TrustedProxies = "127.0.0.1/32"
		s := startServer(t, o)
		addr := s.Addr().String()
		a, b := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("203.0.113.8")

		// Two clients behind the proxy: each has its own cap.
		for _, c := range []string{"203.0.113.7", "203.0.113.8"} {
			limUpgrade(t, addr, 1, "/ws", xff(c))
			// What a client writes itself sits left of what the proxy appended.
			limUpgrade(t, addr, 1, "/ws", xff("198.51.100.1, "+c))
			limRefused(t, addr, 1, limRequest("/ws", "13", xff(c)), http.StatusTooManyRequests)
			limRefused(t, addr, 1, limRequest("/ws", "13", xff("198.51.100.1")+xff(c)), http.StatusTooManyRequests)
		}
		if s.adm.Caps.PerIP(a) != 2 || s.adm.Caps.PerIP(b) != 2 {
			t.Fatalf("per-IP counts: %v=%d %v=%d, want 2 each", a, s.adm.Caps.PerIP(a), b, s.adm.Caps.PerIP(b))
		}
		// The proxy's own requests without the header count as the proxy.
		limUpgrade(t, addr, 1, "/ws", "")
		limUpgrade(t, addr, 1, "/ws", "")
		limRefused(t, addr, 1, limRequest("/ws", "13", ""), http.StatusTooManyRequests)
		// A chain broken by garbage falls back to the peer (the proxy).
		limRefused(t, addr, 1, limRequest("/ws", "13", xff("203.0.113.99, unknown")), http.StatusTooManyRequests)

		// An untrusted peer's X-Forwarded-For is ignored: its connections
		// count against its own address, whatever the header says.
		limUpgrade(t, addr, 5, "/ws", xff("203.0.113.50"))
		limUpgrade(t, addr, 5, "/ws", xff("203.0.113.51"))
		limRefused(t, addr, 5, limRequest("/ws", "13", xff("203.0.113.52")), http.StatusTooManyRequests)
		limRefused(t, addr, 5, limRequest("/ws", "13", xff("127.0.0.1")), http.StatusTooManyRequests)
		if got := s.adm.Caps.PerIP(netip.MustParseAddr("127.0.0.5")); got != 2 {
			t.Fatalf("127.0.0.5 holds %d slots, want 2", got)
		}
		for _, spoofed := range []string{"203.0.113.50", "203.0.113.51"} {
			if got := s.adm.Caps.PerIP(netip.MustParseAddr(spoofed)); got != 0 {
				t.Fatalf("spoofed %s holds %d slots, want 0", spoofed, got)
			}
		}
		// 6 (behind the proxy and the proxy itself) + 2 (127.0.0.5).
		if got := s.adm.Caps.Active(); got != 8 {
			t.Fatalf("active %d, want 8", got)
		}
	})
	t.Run("rate", func(t *testing.T) {
		o := testOptions()
		o.ConnRate = 1
		o.ConnBurst = 1
		o.TrustedProxies = "127.0.0.1/32"
		s := startServer(t, o)
		addr := s.Addr().String()
		limUpgrade(t, addr, 1, "/echo", xff("203.0.113.7")).conn.Close()
		resp := limRefused(t, addr, 1, limRequest("/echo", "13", xff("203.0.113.7")), http.StatusTooManyRequests)
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
			t.Fatalf("Retry-After %q, want at least 1", resp.Header.Get("Retry-After"))
		}
		limUpgrade(t, addr, 1, "/echo", xff("203.0.113.8")).conn.Close()
		// The proxy's own address is not spent by its clients.
		limUpgrade(t, addr, 1, "/echo", "").conn.Close()
		// An untrusted peer cannot borrow fresh buckets through the header.
		limUpgrade(t, addr, 5, "/echo", xff("203.0.113.60")).conn.Close()
		limRefused(t, addr, 5, limRequest("/echo", "13", xff("203.0.113.61")), http.StatusTooManyRequests)
	})
}

// limReply is a JSON reply as far as the message-rate test reads it.
type limReply struct {
	Type  string          `json:"type"`
	ID    json.RawMessage `json:"id"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// TestLimitsMsgRate: on /ws, messages over -msg-rate/-msg-burst are answered
// RATE_LIMITED (echoing the id) and the connection stays usable; a client
// that keeps on is closed with 1008.
func TestLimitsMsgRate(t *testing.T) {
	o := testOptions()
	o.MsgRate = 2 // a token every 500ms
	o.MsgBurst = 3
	s := startServer(t, o)
	r := limUpgrade(t, s.Addr().String(), 2, "/ws", "")
	ping := func(id string) []byte { return msgFrame(codec.OpText, true, `{"type":"ping","id":"`+id+`"}`) }

	idMissing := false // reported once
	// read collects pongs by id and counts RATE_LIMITED errors until want
	// replies arrived (or a close).
	read := func(want int) (pongs map[string]bool, limited int, closed *serverFrame) {
		pongs = map[string]bool{}
		for len(pongs)+limited < want {
			f, err := r.nextFrame(5 * time.Second)
			if err != nil {
				t.Fatalf("after %d pongs and %d errors: %v", len(pongs), limited, err)
			}
			if f.op == codec.OpClose {
				return pongs, limited, &f
			}
			var m limReply
			if f.op != codec.OpText || json.Unmarshal(f.payload, &m) != nil {
				t.Fatalf("unexpected frame op %d %q", f.op, f.payload)
			}
			var id string
			_ = json.Unmarshal(m.ID, &id)
			switch {
			case m.Type == "pong":
				pongs[id] = true
			case m.Type == "error" && m.Error != nil && m.Error.Code == "RATE_LIMITED" && m.Error.Message != "":
				// README, JSON protocol: every error reply echoes the request's id.
				if id == "" && !idMissing {
					idMissing = true
					t.Errorf("RATE_LIMITED reply does not echo the request's id: %s", f.payload)
				}
				limited++
			default:
				t.Fatalf("unexpected reply %s", f.payload)
			}
		}
		return pongs, limited, nil
	}

	// Burst + 2 back to back: the burst passes, the rest is refused.
	var batch [][]byte
	for i := 0; i < 5; i++ {
		batch = append(batch, ping("a"+strconv.Itoa(i)))
	}
	r.send(batch...)
	pongs, limited, closed := read(5)
	if closed != nil || len(pongs) != 3 || limited != 2 {
		t.Fatalf("burst of 5 with -msg-burst 3: %d pongs, %d RATE_LIMITED, close %v", len(pongs), limited, closed)
	}

	// After a pause the connection is usable again.
	time.Sleep(600 * time.Millisecond)
	r.send(ping("later"))
	if pongs, _, closed = read(1); closed != nil || !pongs["later"] {
		t.Fatalf("after the refill: pongs %v close %v", pongs, closed)
	}

	// Keeping on: 10 refusals within 10 seconds close the connection.
	batch = batch[:0]
	for i := 0; i < 20; i++ {
		batch = append(batch, ping("b"+strconv.Itoa(i)))
	}
	r.send(batch...)
	refused := 0
	for closed == nil {
		var n int
		_, n, closed = read(1)
		refused += n
	}
	// 2 strikes before the pause, 8 more close the connection.
	if refused != 7 {
		t.Errorf("%d RATE_LIMITED replies before the close, want 7 (the 10th strike closes)", refused)
	}
	if closeCode(*closed) != codec.ClosePolicyViolation {
		t.Fatalf("close code %d, want 1008", closeCode(*closed))
	}
	r.expectEOF()
	if got := counterValue(t, s.Metrics().Rejected.WithLabelValues(string(limits.ReasonIPRate))); got != 0 {
		t.Fatalf("message limits counted as connection refusals: %v", got)
	}
}

// TestLimitsFlood: a child-process server with the default-like per-IP
// limits takes 20,000 connection attempts from one address within a few
// seconds. The flooder gets 429s, another address keeps upgrading and
// echoing, the server's memory stays flat and /health keeps answering.
func TestLimitsFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 connection attempts; skipped in -short mode")
	}
	const (
		attempts    = 20000
		concurrency = 64
		flooder     = 9
		good        = 10
		prober      = 11
	)
	addr, pid, stop := startChildWith(t, `{"ConnRate":60,"ConnBurst":10,"MaxConnsPerIP":10}`)
	defer stop()

	if _, err := limChildHealth(addr, prober); err != nil {
		t.Fatal(err)
	}
	rss0, err := limRSS(pid)
	if err != nil {
		t.Fatal(err)
	}

	// The well-behaved client: one long-lived connection echoing all the
	// time, plus a fresh connection now and then (within its own rate).
	echo := limUpgrade(t, addr, good, "/echo", "")
	stopGood := make(chan struct{})
	var goodWG sync.WaitGroup
	var echoes, fresh atomic.Int64
	goodErr := make(chan error, 2)
	goodWG.Add(2)
	go func() {
		defer goodWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stopGood:
				return
			default:
			}
			_ = echo.conn.SetDeadline(time.Now().Add(10 * time.Second))
			if err := limEcho(echo, "steady "+strconv.Itoa(i)); err != nil {
				goodErr <- fmt.Errorf("long-lived echo %d: %w", i, err)
				return
			}
			echoes.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	go func() {
		defer goodWG.Done()
		tick := time.NewTicker(1100 * time.Millisecond) // the bucket refills at 1/s
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopGood:
				return
			case <-tick.C:
			}
			r, err := limTryUpgrade(t, addr, good, "/echo")
			if err == nil {
				err = limEcho(r, "fresh")
				r.conn.Close()
			}
			if err != nil {
				goodErr <- fmt.Errorf("fresh connection %d from 127.0.0.%d: %w", i, good, err)
				return
			}
			fresh.Add(1)
		}
	}()

	// The flood.
	req := []byte(limRequest("/ws", "13", ""))
	var next, n101, n429, bad atomic.Int64
	var firstBad atomic.Value
	var rssHalf atomic.Int64 // RSS once half the attempts were made
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := limDialer(flooder)
			buf := make([]byte, 1024)
			for {
				i := next.Add(1)
				if i > attempts {
					return
				}
				if i == attempts/2 {
					if rss, err := limRSS(pid); err == nil {
						rssHalf.Store(rss)
					}
				}
				status, err := limFloodAttempt(d, addr, req, buf)
				switch {
				case err != nil:
					bad.Add(1)
					firstBad.CompareAndSwap(nil, err.Error())
				case status == 101:
					n101.Add(1)
				case status == 429:
					n429.Add(1)
				default:
					bad.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("status %d", status))
				}
			}
		}()
	}
	// /health answers during the flood.
	floodDone := make(chan struct{})
	go func() { wg.Wait(); close(floodDone) }()
	probes := 0
	for waiting := true; waiting; {
		select {
		case <-floodDone:
			waiting = false
		case <-time.After(time.Second):
			if _, err := limChildHealth(addr, prober); err != nil {
				t.Errorf("health during the flood: %v", err)
			}
			probes++
		}
	}
	elapsed := time.Since(start)
	rss1, err := limRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	close(stopGood)
	goodWG.Wait()
	close(goodErr)
	for err := range goodErr {
		t.Error(err)
	}
	t.Logf("%d attempts in %v (%.0f/s): %d upgraded, %d got 429, %d failed; well-behaved client: %d echoes, %d fresh connections; %d health probes; RSS %.1f -> %.1f (half-way) -> %.1f MiB",
		attempts, elapsed.Round(time.Millisecond), attempts/elapsed.Seconds(), n101.Load(), n429.Load(), bad.Load(),
		echoes.Load(), fresh.Load(), probes, float64(rss0)/(1<<20), float64(rssHalf.Load())/(1<<20), float64(rss1)/(1<<20))

	if bad.Load() != 0 {
		t.Errorf("%d attempts neither upgraded nor got a 429; first: %v", bad.Load(), firstBad.Load())
	}
	// Burst 10 plus one token a second.
	if max101 := int64(10 + elapsed.Seconds() + 2); n101.Load() > max101 {
		t.Errorf("%d flood attempts upgraded in %v, the bucket allows at most %d", n101.Load(), elapsed, max101)
	}
	if echoes.Load() == 0 {
		t.Error("the well-behaved client echoed nothing during the flood")
	}
	// The first thousands of connections warm the server up (heap target,
	// buffers, the race detector's shadow memory); after that a flood must
	// not grow it: 6 MiB over 10,000 refusals would be ~600 B each.
	warmUp, flat := int64(30<<20), int64(6<<20)
	if os.Getenv("WSEDGE_TEST_POLLER") == "std" {
		// Every connection of the std backend has a reader goroutine, and
		// the runtime keeps their stacks for reuse: a bigger warm-up, and
		// room for the stacks still being taken in the second half (6.0
		// MiB seen there once under load, against several times that for
		// a leak of the 10,000 refused connections).
		warmUp, flat = 60<<20, 12<<20
	}
	if grew := rss1 - rss0; grew > warmUp {
		t.Errorf("server RSS grew by %.1f MiB during the flood", float64(grew)/(1<<20))
	}
	if half := rssHalf.Load(); half == 0 {
		t.Error("no RSS reading half-way through the flood")
	} else if grew := rss1 - half; grew > flat {
		t.Errorf("server RSS grew by %.1f MiB over the second %d attempts", float64(grew)/(1<<20), attempts/2)
	}

	// Afterwards: /health answers and everything is released (the asking
	// socket itself is the one left).
	echo.conn.Close()
	limWaitChild(t, addr, 8*time.Second, "0 connections and only the asking socket", func(h health) bool {
		return h.Connections == 0 && h.Sockets == 1
	})
	// The other address was never affected.
	limUpgrade(t, addr, good, "/echo", "").conn.Close()
}

// limFloodAttempt is one flood connection: send an upgrade request, read
// the answer's head; a 101 is closed at once, a 429 (which must carry
// Retry-After) is read to the server's EOF first.
func limFloodAttempt(d *net.Dialer, addr string, req, buf []byte) (status int, err error) {
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	n := 0
	for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
		if n == len(buf) {
			return 0, fmt.Errorf("response head too long: %q", buf[:n])
		}
		m, err := c.Read(buf[n:])
		if err != nil {
			return 0, fmt.Errorf("read head after %q: %w", buf[:n], err)
		}
		n += m
	}
	h := buf[:n]
	if len(h) < 12 || !bytes.HasPrefix(h, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("not an HTTP response: %q", h)
	}
	status, err = strconv.Atoi(string(h[9:12]))
	if err != nil || status == 101 {
		return status, err
	}
	if status == 429 {
		_, v, ok := bytes.Cut(h, []byte("\r\nRetry-After: "))
		v, _, _ = bytes.Cut(v, []byte("\r\n"))
		if ra, err := strconv.Atoi(string(v)); !ok || err != nil || ra < 1 {
			return 0, fmt.Errorf("429 without a Retry-After of at least 1: %q", h)
		}
	}
	for {
		if _, err := c.Read(buf); err != nil {
			if err == io.EOF {
				return status, nil
			}
			return 0, fmt.Errorf("reading to EOF after %d: %w", status, err)
		}
	}
}

// TestLimitsHeaderSize: -max-header-size bounds the request head whether it
// arrives in one read or in many, for WebSocket paths and /health alike.
func TestLimitsHeaderSize(t *testing.T) {
	o := testOptions()
	s := startServer(t, o)
	addr := s.Addr().String()
	// padded returns a request head of exactly size bytes.
	padded := func(path, version string, size int) string {
		base := limRequest(path, version, "X-Pad: \r\n")
		if path == "/health" {
			base = "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n"
		}
		return strings.Replace(base, "X-Pad: ", "X-Pad: "+strings.Repeat("p", size-len(base)), 1)
	}
	max := o.MaxHeaderBytes
	for i, tc := range []struct {
		path   string
		size   int
		status int
	}{
		{"/echo", max, 101},
		{"/echo", max + 1, 400},
		{"/echo", 9 << 10, 400},
		{"/ws", 30 << 10, 400},
		{"/ws", 60 << 10, 400},
		{"/health", 200, 200},
		{"/health", max + 1, 400},
		{"/health", 50 << 10, 400},
	} {
		t.Run(fmt.Sprintf("%s %dB", tc.path, tc.size), func(t *testing.T) {
			req := padded(tc.path, "13", tc.size)
			if len(req) != tc.size {
				t.Fatalf("built a %d-byte head", len(req))
			}
			if tc.status == 101 {
				if resp, body, c, _ := limExchange(t, addr, byte(100+i), req); resp.StatusCode != 101 {
					t.Fatalf("status %d (%q), want 101", resp.StatusCode, body)
				} else {
					c.Close()
				}
				return
			}
			limRefused(t, addr, byte(100+i), req, tc.status)
		})
	}
}

// TestLimitsRateTableSwept: the server sweeps the connection-rate table, so
// addresses whose buckets have refilled stop taking memory even when no new
// address arrives to trigger the table's lazy clean-up.
func TestLimitsRateTableSwept(t *testing.T) {
	o := testOptions()
	o.ConnRate, o.ConnBurst = 60000, 1 // a bucket refills in 1 ms
	s, err := New(o, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.sweepEvery = 20 * time.Millisecond
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	for ip := byte(10); ip < 30; ip++ {
		limUpgrade(t, s.Addr().String(), ip, "/echo", "").conn.Close()
	}
	waitFor(t, 5*time.Second, "the refilled buckets swept", func() bool { return s.adm.Rate.Len() == 0 })
}

// TestRefusalVocabulary: every refusal has a distinct metric label, an
// error status and a body; the limit ones carry their limit's name.
func TestRefusalVocabulary(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range refusals() {
		if r.String() == "" || seen[r.String()] || r.status() < 400 || r.text() == "" {
			t.Errorf("refusal %d: %q %d %q", r, r, r.status(), r.text())
		}
		seen[r.String()] = true
	}
	for _, lr := range limits.Reasons() {
		if r := limitRefusal(lr); r == refNone || r.String() != lr.String() {
			t.Errorf("limit %q maps to %q", lr, r)
		}
	}
}
