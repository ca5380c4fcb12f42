package metrics

import "github.com/prometheus/client_golang/prometheus"

// WatchDraining exports wsedge_draining: 1 from the moment a drain starts
// (/health answers 503), read from draining at scrape time.
func (m *Metrics) WatchDraining(draining func() bool) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wsedge_draining",
		Help: "1 while the node drains (stops accepting, closes its connections), else 0.",
	}, func() float64 { return b2f(draining()) }))
}

// WatchBroker exports wsedge_broker_connected, read from connected at
// scrape time. Call it only when a broker is configured: a node without one
// has no such series, so an alert on it stays silent.
func (m *Metrics) WatchBroker(connected func() bool) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wsedge_broker_connected",
		Help: "1 while the connection to the channel broker (-broker) is up, else 0.",
	}, func() float64 { return b2f(connected()) }))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
