package admin

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/metrics"
)

// fakeHealth switches between serving and draining like the server does.
type fakeHealth struct{ draining atomic.Bool }

func (f *fakeHealth) Health() (int, []byte) {
	if f.draining.Load() {
		return http.StatusServiceUnavailable, []byte(`{"status":"draining","connections":3}`)
	}
	return http.StatusOK, []byte(`{"status":"ok","connections":3}`)
}

func (f *fakeHealth) Live() (int, []byte) {
	_, body := f.Health()
	return http.StatusOK, body
}

func (f *fakeHealth) Ready() (int, []byte) {
	if f.draining.Load() {
		return http.StatusServiceUnavailable, []byte(`{"status":"draining"}`)
	}
	return http.StatusOK, []byte(`{"status":"ok"}`)
}

func start(t *testing.T) (base string, hs *fakeHealth, m *metrics.Metrics, l *Listener) {
	t.Helper()
	hs, m = &fakeHealth{}, metrics.New()
	l, err := Serve("127.0.0.1:0", Handler(hs, m), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Stop(ctx)
	})
	return "http://" + l.Addr().String(), hs, m, l
}

func get(t *testing.T, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

// TestHealthAndReady: /health is liveness (200 while draining, the body
// says so), /ready readiness (503 while draining); both JSON, never cached,
// and HEAD answers the status without a body.
func TestHealthAndReady(t *testing.T) {
	base, hs, _, _ := start(t)
	for _, tc := range []struct {
		draining bool
		path     string
		code     int
		body     string
	}{
		{false, "/health", 200, `{"status":"ok","connections":3}`},
		{false, "/ready", 200, `{"status":"ok"}`},
		{true, "/health", 200, `{"status":"draining","connections":3}`},
		{true, "/ready", 503, `{"status":"draining"}`},
	} {
		hs.draining.Store(tc.draining)
		code, h, body := get(t, "GET", base+tc.path)
		if code != tc.code || body != tc.body {
			t.Errorf("%s draining=%v: got %d %q, want %d %q", tc.path, tc.draining, code, body, tc.code, tc.body)
		}
		if ct := h.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if cc := h.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		if code, _, body := get(t, "HEAD", base+tc.path); code != tc.code || body != "" {
			t.Errorf("HEAD %s: got %d %q", tc.path, code, body)
		}
	}
}

func TestMetrics(t *testing.T) {
	base, _, m, _ := start(t)
	m.ConnectionsTotal.Add(7)
	m.Rejected.WithLabelValues("ip_rate").Inc()
	code, h, body := get(t, "GET", base+"/metrics")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
	for _, want := range []string{
		"\nwsedge_connections_total 7\n",
		`wsedge_connections_rejected_total{reason="ip_rate"} 1`,
		"# TYPE wsedge_connections_active gauge",
		"\ngo_goroutines ",                 // runtime collector
		"\nprocess_resident_memory_bytes ", // process collector (Linux)
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestRoutes(t *testing.T) {
	base, _, _, _ := start(t)
	for _, tc := range []struct {
		method, path string
		code         int
		contains     string
	}{
		{"GET", "/", 200, "/metrics"},
		{"GET", "/debug/pprof/", 200, "goroutine"},
		{"GET", "/debug/pprof/goroutine?debug=1", 200, "goroutine profile:"},
		{"GET", "/debug/pprof/cmdline", 200, ""},
		{"GET", "/nope", 404, ""},
		{"POST", "/health", 405, ""},
		{"POST", "/ready", 405, ""},
		{"DELETE", "/metrics", 405, ""},
	} {
		code, _, body := get(t, tc.method, base+tc.path)
		if code != tc.code || !strings.Contains(body, tc.contains) {
			t.Errorf("%s %s: got %d (body has %q: %v), want %d", tc.method, tc.path, code,
				tc.contains, strings.Contains(body, tc.contains), tc.code)
		}
	}
}

func TestServeErrorAndStop(t *testing.T) {
	_, _, _, l := start(t)
	if _, err := Serve(l.Addr().String(), http.NotFoundHandler(), zap.NewNop()); err == nil {
		t.Fatal("Serve on a taken port succeeded")
	} else if !strings.Contains(err.Error(), "admin listener") {
		t.Errorf("error lacks context: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	c := &http.Client{Timeout: 2 * time.Second}
	if res, err := c.Get("http://" + l.Addr().String() + "/health"); err == nil {
		res.Body.Close()
		t.Fatal("still serving after Stop")
	}
}
