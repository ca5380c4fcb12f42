package admin

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Bounds of the stats history: one sample per request at most every
// sampleEvery, historyLen samples kept (10 minutes at the admin page's one
// request per second), the p99 of ping RTT over the last rttWindow.
const (
	sampleEvery = 900 * time.Millisecond
	historyLen  = 600
	historySpan = 10 * time.Minute
	rttWindow   = time.Minute
)

// Stats is the body of GET /api/stats: the node's figures now, rates over
// the last sampling interval, and the history the admin page charts.
type Stats struct {
	Time        int64  `json:"time"` // Unix milliseconds of this sample
	Status      string `json:"status"`
	HTTPStatus  int    `json:"http_status"` // of the main port's /health: 200, or 503 in lame duck or draining
	Connections int64  `json:"connections"`
	Sockets     int64  `json:"sockets"`
	Queued      int64  `json:"queued"`
	Broker      string `json:"broker"` // "connected", "disconnected", or "" without -broker
	Uptime      int64  `json:"uptime_seconds"`

	Rates  Rates  `json:"rates"`
	Totals Totals `json:"totals"`

	Refusals map[string]float64 `json:"refusals"` // by reason
	Closes   map[string]float64 `json:"closes"`   // by close code
	Timeouts map[string]float64 `json:"timeouts"` // by kind

	// PingRTTP99Ms is the 99th percentile of heartbeat round trips over the
	// last PingRTTWindow seconds (interpolated in the histogram's buckets);
	// null when no pong arrived in that window.
	PingRTTP99Ms  *float64 `json:"ping_rtt_p99_ms"`
	PingRTTWindow float64  `json:"ping_rtt_window_seconds"`

	Process Process `json:"process"`

	// History holds the samples of the last 10 minutes, oldest first (only
	// those after ?since= when given). Samples are taken while someone asks,
	// so a gap in time means nobody was watching.
	History []Point `json:"history"`
}

// Rates are per second, over the interval since the previous sample.
type Rates struct {
	Interval      float64 `json:"interval_seconds"`
	MessagesIn    float64 `json:"messages_in"`
	MessagesOut   float64 `json:"messages_out"`
	BytesIn       float64 `json:"bytes_in"`
	BytesOut      float64 `json:"bytes_out"`
	Connects      float64 `json:"connects"`
	Refusals      float64 `json:"refusals"`
	SlowConsumers float64 `json:"slow_consumers"`
}

// Totals are the counters since the node started.
type Totals struct {
	Connections   float64 `json:"connections"`
	MessagesIn    float64 `json:"messages_in"`
	MessagesOut   float64 `json:"messages_out"`
	BytesIn       float64 `json:"bytes_in"`
	BytesOut      float64 `json:"bytes_out"`
	SlowConsumers float64 `json:"slow_consumers"`
	PingsSent     float64 `json:"pings_sent"`
	PongsReceived float64 `json:"pongs_received"`
}

// Process comes from the Go and process collectors.
type Process struct {
	RSSBytes   float64 `json:"rss_bytes"`
	Goroutines float64 `json:"goroutines"`
	CPUSeconds float64 `json:"cpu_seconds"`
	OpenFDs    float64 `json:"open_fds"`
}

// Point is one sample of the history.
type Point struct {
	Time        int64   `json:"t"`
	Connections int64   `json:"connections"`
	MessagesIn  float64 `json:"in"`
	MessagesOut float64 `json:"out"`
}

// sample is what the history keeps per point: the point plus the raw
// counters that rates and the RTT window are computed from.
type sample struct {
	at   time.Time
	full Stats
	rtt  []uint64 // cumulative bucket counts of wsedge_ping_rtt_seconds
}

type stats struct {
	health interface{ Health() (int, []byte) }
	gather prometheus.Gatherer

	mu    sync.Mutex
	ring  [historyLen]sample
	n     int // samples in ring
	head  int // index of the newest
	now   func() time.Time
	start time.Time
}

func newStats(h interface{ Health() (int, []byte) }, g prometheus.Gatherer) *stats {
	return &stats{health: h, gather: g, now: time.Now, start: time.Now()}
}

func (s *stats) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var since int64
	if v := r.URL.Query().Get("since"); v != "" {
		var err error
		if since, err = strconv.ParseInt(v, 10, 64); err != nil {
			writeJSONError(w, http.StatusBadRequest, "INVALID_MESSAGE", "since: not a number of Unix milliseconds")
			return
		}
	}
	st, err := s.snapshot(since)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "INTERNAL", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(st)
}

// snapshot takes a sample unless the last one is fresh, and returns it with
// the history after since.
func (s *stats) snapshot(since int64) (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.n == 0 || now.Sub(s.ring[s.head].at) >= sampleEvery {
		cur, err := s.measure(now)
		if err != nil {
			return Stats{}, err
		}
		s.push(cur)
	}
	out := s.ring[s.head].full
	cutoff := now.Add(-historySpan).UnixMilli()
	out.History = make([]Point, 0, s.n)
	for i := s.n - 1; i >= 0; i-- { // oldest first
		p := s.ring[(s.head-i+historyLen)%historyLen].full
		if p.Time > since && p.Time >= cutoff {
			out.History = append(out.History, Point{p.Time, p.Connections, p.Rates.MessagesIn, p.Rates.MessagesOut})
		}
	}
	return out, nil
}

func (s *stats) push(x sample) {
	s.head = (s.head + 1) % historyLen
	s.ring[s.head] = x
	if s.n < historyLen {
		s.n++
	}
}

// measure reads /health and the registries and derives rates and the RTT
// p99 from the previous samples.
func (s *stats) measure(now time.Time) (sample, error) {
	status, body := s.health.Health()
	var h struct {
		Status      string `json:"status"`
		Connections int64  `json:"connections"`
		Sockets     int64  `json:"sockets"`
		Queued      int64  `json:"queued"`
		Broker      string `json:"broker"`
		Uptime      int64  `json:"uptime_seconds"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return sample{}, err
	}
	mfs, err := s.gather.Gather()
	if err != nil && len(mfs) == 0 {
		return sample{}, err
	}
	f := families(mfs)
	st := Stats{
		Time: now.UnixMilli(), Status: h.Status, HTTPStatus: status, Connections: h.Connections,
		Sockets: h.Sockets, Queued: h.Queued, Broker: h.Broker, Uptime: h.Uptime,
		Totals: Totals{
			Connections:   f.value("wsedge_connections_total"),
			MessagesIn:    f.value("wsedge_messages_received_total"),
			MessagesOut:   f.value("wsedge_messages_sent_total"),
			BytesIn:       f.value("wsedge_bytes_received_total"),
			BytesOut:      f.value("wsedge_bytes_sent_total"),
			SlowConsumers: f.value("wsedge_slow_consumers_total"),
			PingsSent:     f.value("wsedge_pings_sent_total"),
			PongsReceived: f.value("wsedge_pongs_received_total"),
		},
		Refusals: f.byLabel("wsedge_connections_rejected_total", "reason"),
		Closes:   f.byLabel("wsedge_closes_total", "code"),
		Timeouts: f.byLabel("wsedge_timeouts_total", "kind"),
		Process: Process{
			RSSBytes:   f.value("process_resident_memory_bytes"),
			Goroutines: f.value("go_goroutines"),
			CPUSeconds: f.value("process_cpu_seconds_total"),
			OpenFDs:    f.value("process_open_fds"),
		},
	}
	bounds, counts := f.buckets("wsedge_ping_rtt_seconds")
	cur := sample{at: now, full: st, rtt: counts}
	if s.n > 0 {
		prev := s.ring[s.head]
		dt := now.Sub(prev.at).Seconds()
		rate := func(a, b float64) float64 { return math.Max(0, a-b) / dt }
		p, c := prev.full.Totals, st.Totals
		cur.full.Rates = Rates{
			Interval:      dt,
			MessagesIn:    rate(c.MessagesIn, p.MessagesIn),
			MessagesOut:   rate(c.MessagesOut, p.MessagesOut),
			BytesIn:       rate(c.BytesIn, p.BytesIn),
			BytesOut:      rate(c.BytesOut, p.BytesOut),
			Connects:      rate(c.Connections, p.Connections),
			Refusals:      rate(sum(st.Refusals), sum(prev.full.Refusals)),
			SlowConsumers: rate(c.SlowConsumers, p.SlowConsumers),
		}
	}
	// The RTT window: from the newest sample at least rttWindow old (or the
	// oldest there is; with none, since the node started).
	base, baseAt := []uint64(nil), s.start
	for i := 0; i < s.n; i++ {
		x := s.ring[(s.head-i+historyLen)%historyLen]
		base, baseAt = x.rtt, x.at
		if now.Sub(x.at) >= rttWindow {
			break
		}
	}
	cur.full.PingRTTWindow = math.Round(now.Sub(baseAt).Seconds())
	if q, ok := quantile(0.99, bounds, counts, base); ok {
		ms := q * 1000
		cur.full.PingRTTP99Ms = &ms
	}
	return cur, nil
}

func sum(m map[string]float64) (t float64) {
	for _, v := range m {
		t += v
	}
	return t
}

// quantile interpolates the q-quantile of the observations between two
// cumulative bucket snapshots, as Prometheus's histogram_quantile does; a
// rank in the +Inf bucket gives the highest finite bound.
func quantile(q float64, bounds []float64, cur, base []uint64) (float64, bool) {
	if len(cur) == 0 || len(cur) != len(bounds) {
		return 0, false
	}
	delta := func(i int) float64 {
		if i < 0 {
			return 0
		}
		if len(base) == len(cur) {
			return float64(cur[i] - base[i])
		}
		return float64(cur[i])
	}
	total := delta(len(cur) - 1)
	if total == 0 {
		return 0, false
	}
	rank := q * total
	for i := range bounds {
		if c := delta(i); c >= rank {
			lower := 0.0
			if i > 0 {
				lower = bounds[i-1]
			}
			if math.IsInf(bounds[i], 1) {
				return lower, true
			}
			below := delta(i - 1)
			return lower + (bounds[i]-lower)*(rank-below)/(c-below), true
		}
	}
	return bounds[len(bounds)-1], true
}

type familyMap map[string]*dto.MetricFamily

func families(mfs []*dto.MetricFamily) familyMap {
	f := make(familyMap, len(mfs))
	for _, mf := range mfs {
		f[mf.GetName()] = mf
	}
	return f
}

// value is a counter's or gauge's value (the sum over its series).
func (f familyMap) value(name string) float64 {
	var v float64
	for _, m := range f[name].GetMetric() {
		v += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
	}
	return v
}

func (f familyMap) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// buckets returns a histogram's upper bounds (ending with +Inf) and
// cumulative counts.
func (f familyMap) buckets(name string) ([]float64, []uint64) {
	ms := f[name].GetMetric()
	if len(ms) == 0 || ms[0].GetHistogram() == nil {
		return nil, nil
	}
	h := ms[0].GetHistogram()
	var bounds []float64
	var counts []uint64
	for _, b := range h.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
		counts = append(counts, b.GetCumulativeCount())
	}
	return append(bounds, math.Inf(1)), append(counts, h.GetSampleCount())
}

// writeJSONError answers in the server API's error shape.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
