package metrics

import "github.com/prometheus/client_golang/prometheus"

// BrokerStats is what the cluster broker reports; WatchBroker exports it.
type BrokerStats struct {
	Connected      bool
	Subscriptions  int    // NATS subscriptions held for local channels and users
	Published      uint64 // messages sent to the other nodes
	Refused        uint64 // publishes refused (NATS unreachable, too large)
	Received       uint64 // channel and user messages from other nodes and backends
	Malformed      uint64 // messages on wsedge subjects that could not be used
	UnknownVersion uint64 // messages of a wire version (or feature) this node does not know
	Delivered      uint64 // local receivers the received messages were queued to
	Dropped        uint64 // local receivers that refused one (slow consumers)
	NATSDropped    uint64 // messages NATS dropped: this node's delivery queue was full
	Commands       uint64 // commands from other nodes handled here
}

// WatchBroker exports the wsedge_broker_* metrics, reading stats once per scrape.
func (m *Metrics) WatchBroker(stats func() BrokerStats) {
	m.Registry.MustRegister(&brokerCollector{stats: stats})
}

var (
	brokerConnected = prometheus.NewDesc("wsedge_broker_connected",
		"1 while the connection to the cluster broker (NATS) is up.", nil, nil)
	brokerSubs = prometheus.NewDesc("wsedge_broker_subscriptions",
		"NATS subscriptions held for the channels and users this node has receivers for.", nil, nil)
	brokerPublished = prometheus.NewDesc("wsedge_broker_published_total",
		"Messages sent to the other nodes.", nil, nil)
	brokerRefused = prometheus.NewDesc("wsedge_broker_publish_refused_total",
		"Publishes refused by the broker (NATS unreachable: UNAVAILABLE; over max_payload).", nil, nil)
	brokerReceived = prometheus.NewDesc("wsedge_broker_received_total",
		"Channel and user messages received from other nodes and backends.", nil, nil)
	brokerInvalid = prometheus.NewDesc("wsedge_broker_received_invalid_total",
		"Messages received on wsedge subjects and dropped, by reason (malformed, unknown_version).", []string{"reason"}, nil)
	brokerDelivered = prometheus.NewDesc("wsedge_broker_deliveries_total",
		"Local receivers the received messages were queued to.", nil, nil)
	brokerDropped = prometheus.NewDesc("wsedge_broker_delivery_dropped_total",
		"Local receivers that refused a received message (slow consumers being closed).", nil, nil)
	brokerNATSDropped = prometheus.NewDesc("wsedge_broker_nats_dropped_total",
		"Messages NATS dropped because this node's delivery queue was full (slow consumer).", nil, nil)
	brokerCommands = prometheus.NewDesc("wsedge_broker_commands_total",
		"Commands from other nodes handled by this node.", nil, nil)
)

type brokerCollector struct{ stats func() BrokerStats }

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{brokerConnected, brokerSubs, brokerPublished, brokerRefused,
		brokerReceived, brokerInvalid, brokerDelivered, brokerDropped, brokerNATSDropped, brokerCommands} {
		ch <- d
	}
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(brokerConnected, connected)
	gauge(brokerSubs, float64(st.Subscriptions))
	counter(brokerPublished, st.Published)
	counter(brokerRefused, st.Refused)
	counter(brokerReceived, st.Received)
	counter(brokerInvalid, st.Malformed, "malformed")
	counter(brokerInvalid, st.UnknownVersion, "unknown_version")
	counter(brokerDelivered, st.Delivered)
	counter(brokerDropped, st.Dropped)
	counter(brokerNATSDropped, st.NATSDropped)
	counter(brokerCommands, st.Commands)
}
