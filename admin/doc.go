// Package admin serves a node's operator endpoints on their own listener
// (-admin-addr, loopback by default): /metrics in the Prometheus text format
// (the server's wsedge_* metrics plus the Go runtime's and the process's),
// /health (liveness: 200 while the node runs, lame duck and drain
// included), /ready (readiness: 503 in the lame duck, while draining, or
// while the broker is down with -ready-broker), /debug/pprof/, the
// admin web page at / with its JSON source /api/stats, and optionally the
// server API under /api/ (WithAPI).
// Everything is mounted on a private mux, never on http.DefaultServeMux, so
// importing this package exposes nothing by itself.
package admin
