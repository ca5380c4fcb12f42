package bench

import (
	"math"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name      string
		values    []int64 // ns
		p50, p99  float64 // µs, within 0.2%
		count     int64
		wantEmpty bool
	}{
		{name: "empty", wantEmpty: true},
		{name: "one", values: []int64{5000}, p50: 5, p99: 5, count: 1},
		{name: "uniform 1..100us", values: seq(1000, 100000, 1000), p50: 50, p99: 99, count: 100},
		{name: "outlier", values: append(repeat(2000, 999), 3e9), p50: 2, p99: 2, count: 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistogram()
			for _, v := range tc.values {
				if err := h.RecordValue(v); err != nil {
					t.Fatal(err)
				}
			}
			l := Summarize(h)
			if tc.wantEmpty {
				if l.Count != 0 || l.Curve != nil {
					t.Fatalf("want zero Latency, got %+v", l)
				}
				return
			}
			if l.Count != tc.count || !near(l.P50, tc.p50) || !near(l.P99, tc.p99) {
				t.Fatalf("got count %d p50 %v p99 %v", l.Count, l.P50, l.P99)
			}
			if len(l.Curve) != len(curvePercentiles) {
				t.Fatalf("curve has %d points", len(l.Curve))
			}
			for i := 1; i < len(l.Curve); i++ {
				if l.Curve[i].Y < l.Curve[i-1].Y {
					t.Fatalf("curve not monotonic: %v", l.Curve)
				}
			}
		})
	}
	if l := Summarize(nil); l.Count != 0 {
		t.Fatal("nil histogram")
	}
}

func seq(from, to, step int64) []int64 {
	var s []int64
	for v := from; v <= to; v += step {
		s = append(s, v)
	}
	return s
}

func repeat(v int64, n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func near(a, b float64) bool { return math.Abs(a-b) <= 0.002*math.Abs(b)+1e-9 }

func TestMedianRatioRate(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := Median(tc.xs); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) not NaN")
	}
	for _, tc := range []struct{ a, b, want float64 }{
		{2, 1, 2}, {1, 4, 0.25}, {0, 1, math.NaN()}, {1, 0, math.NaN()}, {math.Inf(1), 1, math.NaN()}, {math.NaN(), 1, math.NaN()},
	} {
		got := Ratio(tc.a, tc.b)
		if got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("Ratio(%v,%v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	if Rate(100, 2*time.Second) != 50 || Rate(1, 0) != 0 {
		t.Error("Rate")
	}
	c := Causes{"a": 1}
	c.Add(Causes{"a": 2, "b": 3})
	if c["a"] != 3 || c.Total() != 6 {
		t.Errorf("Causes: %v", c)
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{551, "B", "551 B"},
		{1146.88, "B", "1.12 KiB"},
		{3 << 20, "B", "3.00 MiB"},
		{-2048, "B", "-2.00 KiB"},
		{8.04, "us", "8.04 us"},
		{123.4, "us", "123 us"},
		{1234, "us", "1.23 ms"},
		{2.5e6, "us", "2.50 s"},
		{38600, "/s", "38.6k/s"},
		{1.5e6, "/s", "1.50M/s"},
		{12, "", "12"},
	} {
		if got := FormatValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("FormatValue(%v, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

func TestCompareTable(t *testing.T) {
	echo := func(cpu, rate float64) Run { return Run{Echo: &EchoResult{Server: Cost{CPU: cpu}, MsgsPerSec: rate}} }
	res := &CompareResult{
		Servers: []string{"wsedge", "gnet"}, Ref: "wsedge", Rounds: 3,
		Cases: []Case{{Name: "echo", Kind: "echo"}},
		Runs: map[string]map[string][]Run{"echo": {
			"wsedge": {echo(6, 100), echo(7, 300), echo(100, 200)},  // median 7, 200
			"gnet":   {echo(8, 100), {Error: "boom"}, echo(9, 100)}, // error ignored: median 8.5, 100
		}},
	}
	rows := map[string]Row{}
	for _, r := range res.Table() {
		rows[r.Metric] = r
	}
	cpu := rows["server CPU/msg"]
	if cpu.Values["wsedge"] != 7 || cpu.Values["gnet"] != 8.5 || !near(cpu.Ratios["gnet"], 8.5/7) || cpu.Ratios["wsedge"] != 1 {
		t.Fatalf("cpu row: %+v", cpu)
	}
	if r := rows["msgs/s"]; r.Values["wsedge"] != 200 || r.Ratios["gnet"] != 0.5 {
		t.Fatalf("rate row: %+v", r)
	}
	if _, ok := rows["latency p99"]; !ok {
		t.Fatal("zero-valued metrics must still be rows")
	}
}

func TestAggregateWorst(t *testing.T) {
	m := Metric{Lower: true, Worst: true, Get: idleM(func(r *IdleResult) float64 { return float64(r.Failed) })}
	v, ok := Aggregate([]Run{{Idle: &IdleResult{Failed: 1}}, {Idle: &IdleResult{Failed: 7}}, {Idle: &IdleResult{Failed: 2}}}, m)
	if !ok || v != 7 {
		t.Fatalf("worst = %v %v", v, ok)
	}
	if _, ok := Aggregate([]Run{{Echo: &EchoResult{}}}, m); ok {
		t.Fatal("a run of another kind must not count")
	}
}

// TestCompareTableUnknown: a figure a server could not give (no admin
// listener: -1; no RSS growth: 0) is no value, never a -1 or a 0 B cell.
func TestCompareTableUnknown(t *testing.T) {
	unknown := ServerState{RSS: -1, FDs: -1, Threads: -1, Goroutines: -1, Connections: -1}
	res := &CompareResult{
		Servers: []string{"wsedge", "gnet"}, Ref: "wsedge", Rounds: 1,
		Cases: []Case{{Name: "churn", Kind: "churn"}, {Name: "idle", Kind: "idle"}},
		Runs: map[string]map[string][]Run{
			"churn": {
				"wsedge": {{Churn: &ChurnResult{Cycles: 10, After: ServerState{RSS: 1, FDs: 16, Goroutines: 18}, Mid: ServerState{RSS: 1}}}},
				"gnet":   {{Churn: &ChurnResult{Cycles: 10, After: ServerState{RSS: 1, FDs: 16, Goroutines: -1}, Mid: unknown}}},
			},
			"idle": {
				"wsedge": {{Idle: &IdleResult{RSSPerConn: 360}}},
				"gnet":   {{Idle: &IdleResult{RSSPerConn: 0}}},
			},
		},
	}
	rows := map[string]Row{}
	for _, r := range res.Table() {
		rows[r.Metric] = r
	}
	for metric, want := range map[string]bool{"goroutines after": false, "RSS growth 2nd half": false, "fds after": true, "server RSS/conn": false} {
		_, ok := rows[metric].Values["gnet"]
		if ok != want {
			t.Errorf("%s: gnet value present %v, want %v (%+v)", metric, ok, want, rows[metric])
		}
	}
	if rows["goroutines after"].Values["wsedge"] != 18 {
		t.Errorf("wsedge goroutines: %+v", rows["goroutines after"])
	}
}
