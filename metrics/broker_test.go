package metrics

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The broker's counters are exported under the names docs/metrics.md lists, with the values
// read at scrape time.
func TestWatchBroker(t *testing.T) {
	m := New()
	st := BrokerStats{Connected: true, Subscriptions: 3, Published: 10, Refused: 1, Received: 20,
		Malformed: 2, UnknownVersion: 4, Delivered: 40, Dropped: 5, NATSDropped: 6, Commands: 7}
	m.WatchBroker(func() BrokerStats { return st })
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	var names []string
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "wsedge_broker_") {
			continue
		}
		names = append(names, mf.GetName())
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			if m.Counter != nil {
				got[key] = m.Counter.GetValue()
			} else {
				got[key] = m.Gauge.GetValue()
			}
		}
	}
	want := map[string]float64{
		"wsedge_broker_connected": 1, "wsedge_broker_subscriptions": 3,
		"wsedge_broker_published_total": 10, "wsedge_broker_publish_refused_total": 1,
		"wsedge_broker_received_total":                                 20,
		"wsedge_broker_received_invalid_total{reason=malformed}":       2,
		"wsedge_broker_received_invalid_total{reason=unknown_version}": 4,
		"wsedge_broker_deliveries_total":                               40, "wsedge_broker_delivery_dropped_total": 5,
		"wsedge_broker_nats_dropped_total": 6, "wsedge_broker_commands_total": 7,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("exported %v", got)
	}
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(wsedge_broker_[a-z_]+)").FindAllSubmatch(doc, -1) {
		documented = append(documented, string(m[1]))
	}
	sort.Strings(names)
	sort.Strings(documented)
	if !slices.Equal(names, documented) {
		t.Fatalf("exported %v, docs/metrics.md lists %v", names, documented)
	}
}
