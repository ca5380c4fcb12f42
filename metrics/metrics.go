package metrics

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds every metric the server exports. Create it with New.
type Metrics struct {
	ConnectionsActive prometheus.Gauge // upgraded WebSocket connections
	SocketsOpen       prometheus.Gauge // sockets in any state: handshake, upgraded, closing
	ConnectionsTotal  prometheus.Counter
	Rejected          *prometheus.CounterVec // reason
	Closes            *prometheus.CounterVec // code
	Timeouts          *prometheus.CounterVec // kind: handshake, idle, read, write
	AcceptErrors      *prometheus.CounterVec // errno

	MessagesReceived prometheus.Counter
	MessagesSent     prometheus.Counter
	BytesReceived    prometheus.Counter
	BytesSent        prometheus.Counter
	SlowConsumers    prometheus.Counter

	// permessage-deflate (docs/compression.md), by direction (in, out):
	// compressed messages, their payload bytes as they crossed the wire, and
	// the same messages' bytes uncompressed (the ratio of the two is the
	// compression ratio); Compressions counts the messages the server deflated
	// (a publish once per node, however many subscribers receive it).
	CompressedMessages *prometheus.CounterVec
	CompressedBytes    *prometheus.CounterVec
	UncompressedBytes  *prometheus.CounterVec
	Compressions       prometheus.Counter

	PingsSent     prometheus.Counter
	PongsReceived prometheus.Counter
	PingRTT       prometheus.Histogram
	Handshake     prometheus.Histogram

	TLSSessions    *prometheus.CounterVec // record_layer, version
	TLSCipherDrops prometheus.Counter

	// MemoryTrims counts the times the heap's free pages were returned to
	// the OS after a burst of connections (-memory-trim-after).
	MemoryTrims prometheus.Counter

	Registry *prometheus.Registry

	closeCounters [20]atomic.Pointer[prometheus.Counter] // by closeSlot, filled on first use
}

// New creates the metrics in a fresh registry (one per server, so tests can
// run several servers in one process).
func New() *Metrics {
	r := prometheus.NewRegistry()
	f := factory{r}
	m := &Metrics{
		Registry:          r,
		ConnectionsActive: f.gauge("wsedge_connections_active", "Upgraded WebSocket connections (as /health connections)."),
		SocketsOpen:       f.gauge("wsedge_sockets_open", "Open client sockets in any state: in the handshake, upgraded or closing (as /health sockets)."),
		ConnectionsTotal:  f.counter("wsedge_connections_total", "Connections accepted since start."),
		Rejected:          f.counterVec("wsedge_connections_rejected_total", "Connections refused before the upgrade, by reason.", "reason"),
		Closes:            f.counterVec("wsedge_closes_total", "WebSocket closes sent by the server, by close code.", "code"),
		Timeouts:          f.counterVec("wsedge_timeouts_total", "Connections closed by a timeout, by kind (handshake, idle, read, write).", "kind"),
		AcceptErrors:      f.counterVec("wsedge_accept_errors_total", "Failed accepts, by errno (EMFILE: out of file descriptors).", "errno"),
		MessagesReceived:  f.counter("wsedge_messages_received_total", "Complete data messages received."),
		MessagesSent:      f.counter("wsedge_messages_sent_total", "Data messages queued to clients."),
		BytesReceived:     f.counter("wsedge_bytes_received_total", "Bytes read from client sockets."),
		BytesSent:         f.counter("wsedge_bytes_sent_total", "Bytes written to client sockets."),
		SlowConsumers:     f.counter("wsedge_slow_consumers_total", "Connections closed because their write queue passed -write-queue."),
		CompressedMessages: f.counterVec("wsedge_compressed_messages_total",
			"Data messages compressed with permessage-deflate, received (in) or queued to clients (out).", "direction"),
		CompressedBytes: f.counterVec("wsedge_compressed_bytes_total",
			"Payload bytes of compressed messages on the wire (frame headers excluded), by direction (in, out).", "direction"),
		UncompressedBytes: f.counterVec("wsedge_uncompressed_bytes_total",
			"The same compressed messages' size uncompressed: inflated (in) or before deflate (out).", "direction"),
		Compressions: f.counter("wsedge_compressions_total",
			"Messages the server deflated: a reply once, a publish once per node however many subscribers receive it."),
		PingsSent:     f.counter("wsedge_pings_sent_total", "Heartbeat pings sent."),
		PongsReceived: f.counter("wsedge_pongs_received_total", "Pongs received."),
		PingRTT: f.histogram("wsedge_ping_rtt_seconds", "Round trip of heartbeat pings.",
			prometheus.ExponentialBuckets(0.0001, 4, 10)),
		Handshake: f.histogram("wsedge_handshake_seconds", "From accept to the upgrade response.",
			prometheus.ExponentialBuckets(0.0001, 4, 10)),
		TLSSessions: f.counterVec("wsedge_tls_sessions_total",
			"Completed TLS handshakes, by the record layer the session continues on (compact, stdlib) and TLS version.", "record_layer", "version"),
		TLSCipherDrops: f.counter("wsedge_tls_cipher_drops_total",
			"Times an idle compact TLS session dropped its cipher state (after -tls-cipher-idle unused)."),
		MemoryTrims: f.counter("wsedge_memory_trims_total",
			"Times the heap's free pages were returned to the OS once connection arrivals went quiet after the process grew (-memory-trim-after)."),
	}
	for _, d := range []string{"in", "out"} { // shown at 0 from the start
		m.CompressedMessages.WithLabelValues(d)
		m.CompressedBytes.WithLabelValues(d)
		m.UncompressedBytes.WithLabelValues(d)
	}
	return m
}

// WatchQueue exports the worker queue depth, read from queued at scrape time.
func (m *Metrics) WatchQueue(queued func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wsedge_worker_queue_depth",
		Help: "Messages accepted by the worker pool and not yet handled.",
	}, queued))
}

// CloseCode counts a close frame sent with code. The server echoes a
// client's close code, and clients may choose any code from 3000 to 4999:
// those outside the codes the server itself sends share the labels "3xxx"
// and "4xxx", so a client cannot grow the label set.
func (m *Metrics) CloseCode(code uint16) {
	// Every handshake ends with a close: look the child up once per label
	// (WithLabelValues hashes, locks and formats the code each time).
	slot := closeSlot(code)
	if c := m.closeCounters[slot].Load(); c != nil {
		(*c).Inc()
		return
	}
	c := m.Closes.WithLabelValues(CloseLabel(code))
	m.closeCounters[slot].Store(&c)
	c.Inc()
}

// closeSlot numbers the labels of CloseLabel: 1000-1014, 4001, 4003, 3xxx,
// 4xxx, other.
func closeSlot(code uint16) int {
	switch {
	case code >= 1000 && code <= 1014:
		return int(code - 1000)
	case code == 4001:
		return 15
	case code == 4003:
		return 16
	case code >= 3000 && code <= 3999:
		return 17
	case code >= 4000 && code <= 4999:
		return 18
	}
	return 19
}

// CloseLabel is the code label of wsedge_closes_total for a close code.
func CloseLabel(code uint16) string {
	switch {
	case code >= 1000 && code <= 1014, code == 4001, code == 4003:
		// RFC 6455 and its registry, and the server's own 4001 (unauthorized)
		// and 4003 (disconnected by the server API).
		return strconv.Itoa(int(code))
	case code >= 3000 && code <= 3999:
		return "3xxx"
	case code >= 4000 && code <= 4999:
		return "4xxx"
	}
	return "other"
}

type factory struct{ r prometheus.Registerer }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.r.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.r.MustRegister(g)
	return g
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.r.MustRegister(c)
	return c
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.r.MustRegister(h)
	return h
}
