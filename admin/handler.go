package admin

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	webui "github.com/wsedge/wsedge/client"
	"github.com/wsedge/wsedge/metrics"
)

// HealthSource reports a node's state. *server.Server implements it.
type HealthSource interface {
	// Health is the main port's /health: 200 and a JSON body while
	// serving, 503 in the lame duck and while draining (/api/stats shows it).
	Health() (status int, body []byte)
	// Live is the admin /health, the liveness a supervisor restarts the
	// process on: 200 while the node runs, lame duck and drain included.
	Live() (status int, body []byte)
	// Ready is the admin /ready, the readiness a load balancer routes on:
	// 200 while the node wants new clients, else 503.
	Ready() (status int, body []byte)
}

// Option adds to the admin endpoints.
type Option func(*config)

type config struct{ api http.Handler }

// WithAPI mounts the server API (the /api/... calls of the application
// backend: channels, presence, publish, info) on the admin listener, where
// the admin page calls it. Without it those paths answer 501 and the page
// shows "not available on this node".
func WithAPI(h http.Handler) Option { return func(c *config) { c.api = h } }

// Handler returns the admin endpoints of one node. GET patterns also answer
// HEAD; other methods get 405.
func Handler(s HealthSource, m *metrics.Metrics, opts ...Option) http.Handler {
	var c config
	for _, o := range opts {
		o(&c)
	}
	// The runtime collectors live in their own registry so that
	// metrics.Metrics stays exactly what the server exports.
	rt := prometheus.NewRegistry()
	rt.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	gather := prometheus.Gatherers{m.Registry, rt}
	mux := http.NewServeMux()
	page := webui.AdminHandler()
	mux.Handle("GET /{$}", index(page))
	mux.Handle("GET /admin.js", page)
	mux.Handle("GET /admin.css", page)
	mux.Handle("GET /api/stats", newStats(s, gather))
	api := c.api
	if api == nil {
		api = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSONError(w, http.StatusNotImplemented, "NOT_AVAILABLE", "not available on this node")
		})
	}
	mux.Handle("/api/", api)
	mux.Handle("GET /metrics", promhttp.HandlerFor(
		gather,
		promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError},
	))
	mux.Handle("GET /health", probe(s.Live))
	mux.Handle("GET /ready", probe(s.Ready))
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // also serves heap, goroutine, allocs...
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol) // go tool pprof posts addresses
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// probe serves a health or readiness answer as JSON, never cached.
func probe(answer func() (int, []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		status, body := answer()
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store") // a probe must never see a stale answer
		w.WriteHeader(status)
		w.Write(body)
	})
}

const indexText = `wsedge admin
/              this list; the admin page in a browser (Accept: text/html)
/api/stats     the node's figures as JSON (what the admin page shows)
/metrics       Prometheus metrics
/health        liveness: 200 while the node runs (lame duck and drain included)
/ready         readiness: 200 while serving; 503 in lame duck, draining, broker down
/debug/pprof/  Go profiles
`

// index gives browsers the admin page and everything else (curl, scripts)
// the plain list of endpoints.
func index(page http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept")
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			page.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(indexText))
	})
}
