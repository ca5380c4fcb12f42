package metrics

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildInfo(t *testing.T) {
	m := New()
	m.BuildInfo("v1.2.3", "go1.26.8")
	want := `
# HELP wsedge_build_info Always 1; the labels say which build runs.
# TYPE wsedge_build_info gauge
wsedge_build_info{go="go1.26.8",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "wsedge_build_info"); err != nil {
		t.Fatal(err)
	}
}

func TestDraining(t *testing.T) {
	m := New()
	var draining atomic.Bool
	m.WatchDraining(draining.Load)
	for _, d := range []bool{false, true} {
		draining.Store(d)
		want := `
# HELP wsedge_draining 1 while the node drains (stops accepting, closes its connections), else 0.
# TYPE wsedge_draining gauge
wsedge_draining ` + map[bool]string{false: "0", true: "1"}[d] + "\n"
		if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "wsedge_draining"); err != nil {
			t.Errorf("draining=%v: %v", d, err)
		}
	}
}

// TestLint runs Prometheus' own naming checks (promlint) over every metric
// wsedge exports, so a new one cannot slip in with a name dashboards trip on.
func TestLint(t *testing.T) {
	m := New()
	m.BuildInfo("v1", "go1")
	m.WatchQueue(func() float64 { return 0 })
	m.WatchDraining(func() bool { return false })
	m.WatchBroker(func() BrokerStats { return BrokerStats{Connected: true} })
	// Labelled families appear only once a child exists.
	m.Rejected.WithLabelValues("ip_rate").Inc()
	m.Closes.WithLabelValues("1000").Inc()
	m.Timeouts.WithLabelValues("idle").Inc()
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
