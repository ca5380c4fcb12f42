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

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
