// Package bench is wsedge's load-test harness: an event-driven WebSocket
// client engine (a few goroutines, each its own epoll loop over non-blocking
// sockets bound to 127.0.0.x source addresses, framing with package codec, no
// allocation per message) and the scenarios built on it (idle, echo,
// broadcast, churn), the /proc and admin-endpoint samplers that turn server
// cost into per-connection and per-message figures, the peer comparison that
// builds, starts and measures wsedge next to other Go WebSocket servers
// interleaved round by round, and the reports (text table, JSON, HTML with
// SVG charts). Scenarios are bounded in count and time, stop by themselves
// and return what they measured so far when their context is cancelled.
// cmd/wsbench is its command line.
package bench
