//go:build linux

package bench

import (
	"math"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: latencies are recorded in nanoseconds from 1 ns to one
// minute with 3 significant digits (about 0.1% error, ~200 KiB per histogram).
const (
	histMin = 1
	histMax = int64(time.Minute)
	histSig = 3
)

// NewHistogram returns a latency histogram in nanoseconds as the engine uses.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, histSig)
}

// Latency summarizes a latency histogram; all times are microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
	// Curve is the percentile distribution (for charts): latency at
	// 0, 50, 75, 90, 99, 99.9, 99.99 and 100 percent.
	Curve []Point `json:"curve,omitempty"`
}

// Point is one (x, y) sample, e.g. (percentile, µs) or (connections, bytes).
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// curvePercentiles are the points of Latency.Curve.
var curvePercentiles = [...]float64{0, 50, 75, 90, 95, 99, 99.9, 99.99, 100}

// Summarize reads the percentiles of h (nanoseconds) into a Latency in µs.
// An empty or nil histogram gives the zero Latency.
func Summarize(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	l := Latency{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1e3,
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		Max:   us(h.Max()),
	}
	for _, p := range curvePercentiles {
		v := h.ValueAtQuantile(p)
		if p == 0 {
			v = h.Min()
		}
		l.Curve = append(l.Curve, Point{X: p, Y: us(v)})
	}
	return l
}

// Rate is n events over d, per second; 0 when d is not positive.
func Rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Median of xs (the mean of the two middle values for an even count); NaN
// for none. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Ratio is a/b, NaN when either is not a positive finite number, so that a
// missing figure shows as "-" rather than a misleading 0 or Inf.
func Ratio(a, b float64) float64 {
	if !(a > 0) || !(b > 0) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return math.NaN()
	}
	return a / b
}

// Causes counts failures by cause ("connect: connection refused", "http 429").
type Causes map[string]int64

// Add merges o into c.
func (c Causes) Add(o Causes) {
	for k, v := range o {
		c[k] += v
	}
}

// Total is the sum of all counts.
func (c Causes) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}
