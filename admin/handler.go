package admin

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsedge/wsedge/metrics"
)

// HealthSource reports a node's health: 200 and a JSON body while serving,
// 503 while draining. *server.Server implements it.
type HealthSource interface {
	Health() (status int, body []byte)
}

// Handler returns the admin endpoints of one node. GET patterns also answer
// HEAD; other methods get 405.
func Handler(s HealthSource, m *metrics.Metrics) http.Handler {
	// The runtime collectors live in their own registry so that
	// metrics.Metrics stays exactly what the server exports.
	rt := prometheus.NewRegistry()
	rt.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", index)
	mux.Handle("GET /metrics", promhttp.HandlerFor(
		prometheus.Gatherers{m.Registry, rt},
		promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError},
	))
	mux.Handle("GET /health", health(s))
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // also serves heap, goroutine, allocs...
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol) // go tool pprof posts addresses
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

func health(s HealthSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		status, body := s.Health()
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store") // a probe must never see a stale answer
		w.WriteHeader(status)
		w.Write(body)
	})
}

const indexText = `wsedge admin
/metrics       Prometheus metrics
/health        200 while serving, 503 while draining
/debug/pprof/  Go profiles
`

func index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(indexText))
}
