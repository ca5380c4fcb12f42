package metrics

import "github.com/prometheus/client_golang/prometheus"

// BuildInfo exports wsedge_build_info{version,go} = 1, the usual way to put a
// version on a dashboard or join it to other series
// (... * on(instance) group_left(version) wsedge_build_info).
func (m *Metrics) BuildInfo(version, goVersion string) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "wsedge_build_info",
		Help:        "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": version, "go": goVersion},
	}, func() float64 { return 1 }))
}
