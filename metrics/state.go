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

// WatchLameDuck exports wsedge_lameduck: 1 from SIGTERM until the drain
// starts while -lameduck holds the node serving with /ready at 503 (it stays
// 1 during the drain that follows).
func (m *Metrics) WatchLameDuck(lameduck func() bool) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wsedge_lameduck",
		Help: "1 once the node is in lame duck (SIGTERM with -lameduck: /ready answers 503, still serving), else 0.",
	}, func() float64 { return b2f(lameduck()) }))
}

// WatchReady exports wsedge_ready: 1 while the admin /ready answers 200.
func (m *Metrics) WatchReady(ready func() bool) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wsedge_ready",
		Help: "1 while /ready answers 200 (serving, not in lame duck or draining, broker up when -ready-broker), else 0.",
	}, func() float64 { return b2f(ready()) }))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
