package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backend is a real HTTP server answering with h.
func backend(t *testing.T, h http.HandlerFunc) *httptest.Server {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

var bg = context.Background()

func TestConnectAccepts(t *testing.T) {
	var got map[string]any
	s := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad method", 400)
			return
		}
		json.NewDecoder(r.Body).Decode(&got)
		io.WriteString(w, `{"user":"42","info":{"name":"Ann"},"channels":["news","#42"],"extra":1}`)
	})
	c := newClient(t, Config{ConnectURL: s.URL, MaxQueue: DefaultMaxQueue})
	res, err := c.Connect(bg, &ConnectRequest{
		ClientIP: "203.0.113.9", Path: "/ws", Query: "room=1",
		Headers: ConnectHeaders{Cookie: "sid=abc", Authorization: "Bearer x", Origin: "https://app.example", UserAgent: "test/1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.User != "42" || string(res.Info) != `{"name":"Ann"}` || len(res.Channels) != 2 || res.Channels[1] != "#42" {
		t.Errorf("result %+v", res)
	}
	want := `{"client_ip":"203.0.113.9","headers":{"Authorization":"Bearer x","Cookie":"sid=abc","Origin":"https://app.example","User-Agent":"test/1"},"path":"/ws","query":"room=1"}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Errorf("backend got %s\nwant %s", b, want)
	}
}

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/connect"
}

// TestBadBackends: every failure of the backend is a clear error kind, and
// none takes longer than the timeout.
func TestBadBackends(t *testing.T) {
	const timeout = 300 * time.Millisecond
	huge := strings.Repeat("x", 10<<20)
	for _, c := range []struct {
		name    string
		h       http.HandlerFunc
		connect error // want for Connect
		rpc     error // want for RPC
		status  int   // RefusedError status for connect
	}{
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // so the server notices the client leaving
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}, ErrUnavailable, ErrUnavailable, 0},
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, ErrUnavailable, ErrUnavailable, 0},
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, ErrUnavailable, ErrUnavailable, 0},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>hello</html>") }, ErrUnavailable, ErrUnavailable, 0},
		{"JSON array", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `["42"]`) }, ErrUnavailable, ErrUnavailable, 0},
		{"null", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `null`) }, ErrUnavailable, ErrUnavailable, 0},
		{"wrong types", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"user":42,"channels":"news","result":1,"error":"x"}`)
		}, ErrUnavailable, ErrUnavailable, 0},
		{"empty body", func(w http.ResponseWriter, r *http.Request) {}, ErrUnavailable, ErrUnavailable, 0},
		{"10 MB body", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"user":"`+huge+`"}`)
		}, ErrUnavailable, ErrUnavailable, 0},
		{"cut short", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, `{"user":`)
		}, ErrUnavailable, ErrUnavailable, 0},
		{"401", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) }, nil, ErrUnavailable, 401},
		{"403", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) }, nil, ErrUnavailable, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := backend(t, c.h)
			cl := newClient(t, Config{ConnectURL: s.URL, RPCURL: s.URL, Timeout: timeout})
			start := time.Now()
			_, err := cl.Connect(bg, &ConnectRequest{ClientIP: "127.0.0.1"})
			if c.status != 0 {
				var re *RefusedError
				if !errors.As(err, &re) || re.Status != c.status {
					t.Errorf("connect: got %v, want refused %d", err, c.status)
				}
			} else if !errors.Is(err, c.connect) {
				t.Errorf("connect: got %v, want %v", err, c.connect)
			}
			_, err = cl.RPC(bg, &CallRequest{Client: "1", Method: "m"})
			if !errors.Is(err, c.rpc) {
				t.Errorf("rpc: got %v, want %v", err, c.rpc)
			}
			if d := time.Since(start); d > 4*timeout+time.Second {
				t.Errorf("two calls took %v with a %v timeout", d, timeout)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		cl := newClient(t, Config{ConnectURL: deadAddr(t), Timeout: timeout})
		if _, err := cl.Connect(bg, &ConnectRequest{}); !errors.Is(err, ErrUnavailable) {
			t.Errorf("got %v, want ErrUnavailable", err)
		}
		if st := cl.Stats(); st.Failures != 1 || st.Admitted != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestRPC(t *testing.T) {
	var got CallRequest
	s := backend(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		switch got.Method {
		case "sum":
			io.WriteString(w, `{"result":{"sum":3}}`)
		case "null":
			io.WriteString(w, `{"result":null}`)
		case "fail":
			io.WriteString(w, `{"error":{"code":"NOT_FOUND","message":"no such order"}}`)
		case "failnum":
			io.WriteString(w, `{"error":{"code":404,"message":"no such order"}}`)
		case "badcode":
			io.WriteString(w, `{"error":{"code":{"x":1},"message":"m"}}`)
		case "nomsg":
			io.WriteString(w, `{"error":{"code":"X"}}`)
		default:
			io.WriteString(w, `{}`)
		}
	})
	c := newClient(t, Config{RPCURL: s.URL})
	req := &CallRequest{Client: "7", User: "42", Info: json.RawMessage(`{"a":1}`), Method: "sum", Data: json.RawMessage(`[1,2]`)}
	r, err := c.RPC(bg, req)
	if err != nil || string(r.Result) != `{"sum":3}` || r.Error != nil {
		t.Fatalf("sum: %+v %v", r, err)
	}
	if got.Client != "7" || got.User != "42" || string(got.Info) != `{"a":1}` || string(got.Data) != `[1,2]` {
		t.Errorf("backend got %+v", got)
	}
	for _, m := range []struct {
		method, code string
		err          error
	}{
		{"null", "", nil}, {"fail", `"NOT_FOUND"`, nil}, {"failnum", `404`, nil},
		{"badcode", "", ErrUnavailable}, {"nomsg", "", ErrUnavailable}, {"empty", "", ErrUnavailable},
	} {
		r, err := c.RPC(bg, &CallRequest{Method: m.method})
		if !errors.Is(err, m.err) || (m.err == nil && m.code == "" && string(r.Result) != "null") ||
			(m.code != "" && (r.Error == nil || string(r.Error.Code) != m.code || r.Error.Message != "no such order")) {
			t.Errorf("%s: %+v %v", m.method, r, err)
		}
	}

	// The event-loop form delivers on another goroutine.
	ch := make(chan RPCResult, 1)
	if err := c.GoRPC(bg, req, func(r RPCResult, err error) {
		if err != nil {
			t.Error(err)
		}
		ch <- r
	}); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; string(r.Result) != `{"sum":3}` {
		t.Errorf("GoRPC: %+v", r)
	}
}

func TestSubscribeAndPublishProxies(t *testing.T) {
	s := backend(t, func(w http.ResponseWriter, r *http.Request) {
		var req CallRequest
		json.NewDecoder(r.Body).Decode(&req)
		switch req.Channel {
		case "ok":
			io.WriteString(w, `{"result":{}}`)
		case "no":
			io.WriteString(w, `{"error":{"code":"FORBIDDEN","message":"not your room"}}`)
		case "403":
			w.WriteHeader(403)
		default:
			w.WriteHeader(502)
		}
	})
	c := newClient(t, Config{SubscribeURL: s.URL, PublishURL: s.URL + "/pub"})
	for _, f := range []func(context.Context, *CallRequest) error{c.Subscribe, c.Publish} {
		if err := f(bg, &CallRequest{Channel: "ok"}); err != nil {
			t.Errorf("ok: %v", err)
		}
		var de *DeniedError
		if err := f(bg, &CallRequest{Channel: "no"}); !errors.As(err, &de) || de.Code != "FORBIDDEN" || de.Message != "not your room" {
			t.Errorf("no: %v", err)
		}
		if err := f(bg, &CallRequest{Channel: "403"}); !errors.As(err, &de) || de.Status != 403 {
			t.Errorf("403: %v", err)
		}
		if err := f(bg, &CallRequest{Channel: "x"}); !errors.Is(err, ErrUnavailable) {
			t.Errorf("502: %v", err)
		}
	}
	done := make(chan error, 1)
	if err := c.GoSubscribe(bg, &CallRequest{Channel: "no"}, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	var de *DeniedError
	if err := <-done; !errors.As(err, &de) {
		t.Errorf("GoSubscribe: %v", err)
	}
	if err := newClient(t, Config{}).Subscribe(bg, &CallRequest{}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("unconfigured: %v", err)
	}
}

// TestStorm: thousands of connects at once against a stuck backend: exactly
// MaxConcurrent reach it, MaxQueue wait, the rest are refused at once; when
// the backend answers, the admitted ones succeed.
func TestStorm(t *testing.T) {
	const conc, queue, storm = 8, 32, 3000
	release := make(chan struct{})
	var inside, peak atomic.Int64
	s := backend(t, func(w http.ResponseWriter, r *http.Request) {
		n := inside.Add(1)
		defer inside.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		io.WriteString(w, `{"user":"u"}`)
	})
	c := newClient(t, Config{ConnectURL: s.URL, MaxConcurrent: conc, MaxQueue: queue, Timeout: 20 * time.Second})

	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	refused := 0
	start := time.Now()
	for range storm {
		wg.Add(1)
		err := c.GoConnect(bg, &ConnectRequest{ClientIP: "127.0.0.1"}, func(r ConnectResult, err error) {
			if err == nil && r.User == "u" {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
			wg.Done()
		})
		if err != nil {
			if !errors.Is(err, ErrOverloaded) {
				t.Fatalf("refusal: %v", err)
			}
			refused++
			wg.Done()
		}
	}
	refuseTime := time.Since(start)
	if refused != storm-conc-queue {
		t.Errorf("refused %d of %d, want %d", refused, storm, storm-conc-queue)
	}
	for deadline := time.Now().Add(5 * time.Second); inside.Load() < conc && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if st := c.Stats(); st.Admitted != conc+queue || st.Overloaded != int64(refused) {
		t.Errorf("stats %+v", st)
	}
	close(release)
	wg.Wait()
	if ok.Load() != conc+queue || failed.Load() != 0 {
		t.Errorf("%d succeeded, %d failed; want %d, 0", ok.Load(), failed.Load(), conc+queue)
	}
	if p := peak.Load(); p > conc {
		t.Errorf("backend saw %d calls at once, bound %d", p, conc)
	}
	t.Logf("%d refusals decided in %v", refused, refuseTime)
}

// TestKeepAlive: sequential calls reuse one pooled connection.
func TestKeepAlive(t *testing.T) {
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"result":1}`)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	c := newClient(t, Config{RPCURL: s.URL})
	for range 50 {
		if _, err := c.RPC(bg, &CallRequest{Method: "m"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 50 sequential calls, want 1", n)
	}
}

func TestContextCancel(t *testing.T) {
	s := backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so the server notices the client leaving
		<-r.Context().Done()
	})
	c := newClient(t, Config{ConnectURL: s.URL, Timeout: time.Minute})
	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.Connect(ctx, &ConnectRequest{}); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{{ConnectURL: "ftp://x"}, {RPCURL: "nats://x"}, {SubscribeURL: "http://"}, {Timeout: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
