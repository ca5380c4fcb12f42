//go:build linux

package bench

import (
	"context"
	"fmt"
	"time"
)

// IdleConfig is the idle scenario: ramp Conns connections, hold them.
type IdleConfig struct {
	Common
	Conns int
	// Rate paces connects per second (0: as fast as MaxInflight allows).
	Rate int
	// Hold is how long all connections stay open before the RSS reading.
	Hold time.Duration
	// RampTimeout bounds the ramp (default 2 minutes).
	RampTimeout time.Duration
	// Subscribe makes each connection subscribe (wsedge's JSON protocol on
	// /ws) and wait for the acks before the hold.
	Subscribe Subscriptions
}

// IdleResult is what the idle scenario measured.
type IdleResult struct {
	Conns          int      `json:"conns"`
	Opened         int64    `json:"opened"`
	Failed         int64    `json:"failed"`
	Dropped        int64    `json:"dropped"`
	Held           int64    `json:"held"`            // open at the end of the hold
	Token          string   `json:"token,omitempty"` // what each connection presented
	Subscriptions  string   `json:"subscriptions,omitempty"`
	Subscribed     int64    `json:"subscribed,omitempty"` // connections with every subscription acked
	Refused        int64    `json:"refused,omitempty"`    // connections with a subscription refused
	RampSeconds    float64  `json:"ramp_s"`
	ConnectsPerSec float64  `json:"connects_per_s"`
	Handshake      Latency  `json:"handshake"`
	Causes         Causes   `json:"failures,omitempty"`
	RSSBase        int64    `json:"server_rss_base_bytes,omitempty"`
	RSSHeld        int64    `json:"server_rss_held_bytes,omitempty"`
	RSSPerConn     float64  `json:"server_rss_per_conn_bytes,omitempty"`
	Threads        int      `json:"server_threads,omitempty"`
	RSSCurve       []Point  `json:"server_rss_curve,omitempty"` // (connections, bytes)
	Warnings       []string `json:"warnings,omitempty"`
	// ClientRSSPerConn is this client's own RSS growth per held connection
	// (what holding them costs the load generator).
	ClientRSSPerConn float64 `json:"client_rss_per_conn_bytes,omitempty"`
	// Heap is the server's Go heap per held connection (growth over the run,
	// each reading after forced GCs, taken after the RSS reading), with an
	// admin listener that serves /debug/pprof (wsedge): the live structures,
	// apart from the free heap the runtime keeps, which RSS counts alike.
	Heap        *HeapPerConn `json:"server_heap_per_conn,omitempty"`
	Interrupted bool         `json:"interrupted,omitempty"`
	Elapsed     float64      `json:"elapsed_s"`
	start       time.Time    // unexported: not reported
}

// HeapPerConn is a server's Go heap growth per held connection.
type HeapPerConn struct {
	Live  float64 `json:"live_bytes"`  // HeapAlloc: reachable objects
	Spans float64 `json:"spans_bytes"` // HeapInuse: the spans that hold them, free slots included
}

// Idle runs the idle scenario. A cancelled ctx ends it early with what was
// measured so far (Interrupted set).
func Idle(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	if cfg.Conns <= 0 {
		return IdleResult{}, fmt.Errorf("idle: conns must be > 0")
	}
	if cfg.RampTimeout <= 0 {
		cfg.RampTimeout = 2 * time.Minute
	}
	r := IdleResult{Conns: cfg.Conns, start: time.Now()}
	if err := cfg.prepareTokens(cfg.Conns); err != nil {
		return r, fmt.Errorf("idle: %w", err)
	}
	if cfg.Token.Enabled() {
		r.Token = cfg.Token.Describe()
	}
	self0 := selfSample()
	base, haveProc, warn := cfg.baseline(ctx)
	var heap0 *HeapSample
	if cfg.AdminAddr != "" {
		if h, err := ReadHeap(ctx, cfg.AdminAddr); err == nil {
			heap0 = &h
		}
	}
	r.Warnings = warn
	if haveProc {
		r.RSSBase = base.RSS
		r.RSSCurve = append(r.RSSCurve, Point{X: 0, Y: float64(base.RSS)})
	}
	ec := cfg.engineConfig()
	if sub := cfg.Subscribe; sub.Count() > 0 {
		r.Subscriptions = sub.String()
		ec.Open = func(n int) [][]byte { return subscribeMessages(sub.Channels(n)) }
	}
	e, err := NewEngine(ec)
	if err != nil {
		return r, fmt.Errorf("idle: %w", err)
	}
	var lastSample time.Time
	d := ramp(ctx, &cfg.Common, e, cfg.Conns, cfg.Rate, cfg.RampTimeout, func() {
		if haveProc && time.Since(lastSample) >= 250*time.Millisecond {
			lastSample = time.Now()
			if s, ok := cfg.procSample(); ok {
				r.RSSCurve = append(r.RSSCurve, Point{X: float64(e.Counters().Open()), Y: float64(s.RSS)})
			}
		}
	})
	k := e.Counters()
	r.RampSeconds = d.Seconds()
	r.ConnectsPerSec = Rate(k.Opened, d)

	acking := ec.Open != nil || (cfg.Token.Enabled() && cfg.Token.in() == TokenInConnect)
	if acking && ctx.Err() == nil {
		p := progressOf(cfg.Progress)
		p.Start(cfg.label("subscribe"), k.Opened)
		waitFor(ctx, 60*time.Second, 100*time.Millisecond, func() bool {
			k := e.Counters()
			return k.Acked+k.Refused >= k.Open()
		}, func() {
			k := e.Counters()
			p.Update(k.Acked+k.Refused, fmt.Sprintf("%s acked %d refused %d", cfg.label("subscribe"), k.Acked, k.Refused))
		})
		p.Done()
	}

	if ctx.Err() == nil && cfg.Hold > 0 {
		p := progressOf(cfg.Progress)
		p.Start(cfg.label("hold"), int64(cfg.Hold/time.Millisecond))
		start := time.Now()
		waitFor(ctx, cfg.Hold, 200*time.Millisecond, func() bool { return time.Since(start) >= cfg.Hold }, func() {
			k := e.Counters()
			p.Update(int64(time.Since(start)/time.Millisecond), fmt.Sprintf("%s open %d dropped %d", cfg.label("hold"), k.Open(), k.Dropped))
		})
		p.Done()
	}
	k = e.Counters()
	r.Held = k.Open()
	if v, _, ok := rssPerConn(self0.RSS, selfSample().RSS, r.Held); ok {
		r.ClientRSSPerConn = v
	}
	if s, ok := cfg.procSample(); ok {
		r.RSSHeld, r.Threads = s.RSS, s.Threads
		r.RSSCurve = append(r.RSSCurve, Point{X: float64(r.Held), Y: float64(s.RSS)})
		if v, w, ok := rssPerConn(r.RSSBase, s.RSS, r.Held); ok {
			r.RSSPerConn = v
		} else if w != "" {
			r.Warnings = append(r.Warnings, w)
		}
	}
	if heap0 != nil && r.Held > 0 {
		// After the RSS reading: the forced GC frees heap but returns no memory.
		if h, err := ReadHeap(ctx, cfg.AdminAddr); err == nil {
			n := float64(r.Held)
			r.Heap = &HeapPerConn{Live: (h.Alloc - heap0.Alloc) / n, Spans: (h.Inuse - heap0.Inuse) / n}
		}
	}
	f := e.Close()
	r.Opened, r.Failed, r.Dropped = f.Counters.Opened, f.Counters.Failed, f.Counters.Dropped
	if acking {
		r.Subscribed, r.Refused = f.Counters.Acked, f.Counters.Refused
	}
	r.Handshake = Summarize(f.Handshake)
	r.Causes = f.Causes
	r.Interrupted = ctx.Err() != nil
	r.Elapsed = time.Since(r.start).Seconds()
	return r, nil
}

func (r IdleResult) heapLive() float64 {
	if r.Heap == nil {
		return 0
	}
	return r.Heap.Live
}
