package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connectBackend is the application backend of -proxy-connect-url: it
// answers by the upgrade's query (case=...), and records the requests.
type connectBackend struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []map[string]any
	inflight atomic.Int64
	release  chan struct{}
}

func newConnectBackend(t testing.TB) *connectBackend {
	b := &connectBackend{release: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.inflight.Add(1)
		defer b.inflight.Add(-1)
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad request", 400)
			return
		}
		b.mu.Lock()
		b.reqs = append(b.reqs, req)
		b.mu.Unlock()
		q, _ := req["query"].(string)
		switch {
		case strings.Contains(q, "case=ok"):
			io.WriteString(w, `{"user":"u1","info":{"plan":"pro"},"channels":["news"]}`)
		case strings.Contains(q, "case=anon"):
			io.WriteString(w, `{"user":""}`)
		case strings.Contains(q, "case=401"):
			w.WriteHeader(401)
		case strings.Contains(q, "case=403"):
			w.WriteHeader(403)
		case strings.Contains(q, "case=500"):
			w.WriteHeader(500)
		case strings.Contains(q, "case=garbage"):
			io.WriteString(w, `{"user":`)
		case strings.Contains(q, "case=wrongtype"):
			io.WriteString(w, `{"user":42}`)
		case strings.Contains(q, "case=big"):
			w.Write([]byte(`{"user":"u1","info":"`))
			chunk := []byte(strings.Repeat("x", 64<<10))
			for range 160 { // 10 MB
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			w.Write([]byte(`"}`))
		case strings.Contains(q, "case=stuck"):
			select {
			case <-b.release:
			case <-r.Context().Done():
			}
			w.WriteHeader(500)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(func() { close(b.release); b.Close() })
	return b
}

func (b *connectBackend) last() map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reqs[len(b.reqs)-1]
}

func connectProxyOptions(url string) Options {
	o := testOptions()
	o.ProxyConnectURL = url
	o.ProxyTimeout = 300 * time.Millisecond
	o.Tick = 10 * time.Millisecond
	return o
}

// TestConnectProxy: the backend says who the connection is before the
// upgrade: 200 accepts with its user, info and channels; 401 and 403 pass
// through; a timeout, a 5xx, garbage, a wrong shape or a 10 MB answer are
// 503 with Retry-After.
func TestConnectProxy(t *testing.T) {
	b := newConnectBackend(t)
	s := startIDServer(t, connectProxyOptions(b.URL))
	for _, tc := range []struct {
		cases  string
		status int
		retry  bool
	}{
		{"ok", 101, false}, {"anon", 101, false},
		{"401", 401, false}, {"403", 403, false},
		{"500", 503, true}, {"garbage", 503, true}, {"wrongtype", 503, true}, {"big", 503, true}, {"stuck", 503, true},
	} {
		t.Run(tc.cases, func(t *testing.T) {
			extra := "Origin: http://example.test\r\nCookie: session=abc\r\nUser-Agent: test-agent\r\nAuthorization: Basic dXNlcjpwdw==\r\n"
			status, hdr, body, rc := upgradeWith(t, s, "/ws?case="+tc.cases+"&x=1", extra)
			if status != tc.status {
				t.Fatalf("status %d %q, want %d", status, body, tc.status)
			}
			if got := hdr.Get("Retry-After") != ""; got != tc.retry {
				t.Fatalf("Retry-After %q", hdr.Get("Retry-After"))
			}
			req := b.last()
			hdrs, _ := req["headers"].(map[string]any)
			if req["client_ip"] != "127.0.0.1" || req["path"] != "/ws" || req["query"] != "case="+tc.cases+"&x=1" ||
				hdrs["Cookie"] != "session=abc" || hdrs["Origin"] != "http://example.test" ||
				hdrs["User-Agent"] != "test-agent" || hdrs["Authorization"] != "Basic dXNlcjpwdw==" {
				t.Fatalf("the backend was asked %v", req)
			}
			if rc == nil {
				return
			}
			got := rc.roundTrip(`{"type":"whoami","id":"1"}`)
			want := `"user":""`
			if tc.cases == "ok" {
				want = `"user":"u1"`
				if !strings.Contains(got, `"info":{"plan":"pro"}`) {
					t.Fatalf("whoami: %s", got)
				}
			}
			if !strings.Contains(got, want) {
				t.Fatalf("whoami: %s", got)
			}
			if tc.cases == "ok" && s.Router().Hub().Subscribers("news") != 1 {
				t.Fatal("the backend's channels were not subscribed")
			}
		})
	}
}

// TestConnectProxyHandshakeTimeout: while the backend thinks, the handshake
// timeout still runs.
func TestConnectProxyHandshakeTimeout(t *testing.T) {
	b := newConnectBackend(t)
	o := connectProxyOptions(b.URL)
	o.ProxyTimeout = 10 * time.Second
	o.HandshakeTimeout = 400 * time.Millisecond
	s := startIDServer(t, o)
	c := rawDial(t, s)
	start := time.Now()
	io.WriteString(c, upgradeRequest("/ws?case=stuck", ""))
	expectTCPEnd(t, c, 5*time.Second)
	checkElapsed(t, "closed by the handshake timeout", time.Since(start), o.HandshakeTimeout)
	waitFor(t, 5*time.Second, "the backend call to be cancelled", func() bool { return b.inflight.Load() == 0 })
}

// TestConnectProxyStorm: a reconnect storm against a stuck backend queues
// up to -proxy-concurrency + -proxy-queue calls and refuses the rest at
// once, without calling the backend.
func TestConnectProxyStorm(t *testing.T) {
	b := newConnectBackend(t)
	o := connectProxyOptions(b.URL)
	o.ProxyTimeout = 10 * time.Second
	o.HandshakeTimeout = 10 * time.Second
	o.ProxyConcurrency, o.ProxyQueue = 4, 8
	s := startIDServer(t, o)
	const n = 300
	var wg sync.WaitGroup
	var refused, other atomic.Int64
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := rawDial(t, s)
			io.WriteString(c, upgradeRequest("/ws?case=stuck", ""))
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			resp, err := http.ReadResponse(bufioReader(c), nil)
			switch {
			case err == nil && resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
				refused.Add(1)
			case err != nil && isTimeout(err): // queued: waits for the backend
			default:
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if got := refused.Load(); got != n-12 || other.Load() != 0 {
		t.Fatalf("%d refused with 503 (want %d), %d other answers", got, n-12, other.Load())
	}
	if got := b.inflight.Load(); got != 4 {
		t.Fatalf("%d calls at the backend, want -proxy-concurrency 4", got)
	}
	t.Logf("%d connects: %d refused at once, 12 waiting, in %v", n, refused.Load(), elapsed)
	if got := counterValue(t, s.Metrics().Rejected.WithLabelValues("auth_overloaded")); got != n-12 {
		t.Fatalf("auth_overloaded refusals %v", got)
	}
}

// TestTokenBeforeProxy: with keys and a connect proxy, a token at the
// upgrade is verified and the backend is not asked; without one the
// backend decides.
func TestTokenBeforeProxy(t *testing.T) {
	b := newConnectBackend(t)
	o := connectProxyOptions(b.URL)
	o.JWTHMACSecret = idSecret
	s := startIDServer(t, o)
	_, _, _, rc := upgradeWith(t, s, "/ws?case=403", bearer(userToken(t, "tok")))
	if got := rc.roundTrip(`{"type":"whoami","id":"1"}`); !strings.Contains(got, `"user":"tok"`) {
		t.Fatalf("whoami: %s", got)
	}
	if status, _, _, _ := upgradeWith(t, s, "/ws?case=403", ""); status != 403 {
		t.Fatalf("without a token: %d, want the backend's 403", status)
	}
}
