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
}

// IdleResult is what the idle scenario measured.
type IdleResult struct {
	Conns          int       `json:"conns"`
	Opened         int64     `json:"opened"`
	Failed         int64     `json:"failed"`
	Dropped        int64     `json:"dropped"`
	Held           int64     `json:"held"` // open at the end of the hold
	RampSeconds    float64   `json:"ramp_s"`
	ConnectsPerSec float64   `json:"connects_per_s"`
	Handshake      Latency   `json:"handshake"`
	Causes         Causes    `json:"failures,omitempty"`
	RSSBase        int64     `json:"server_rss_base_bytes,omitempty"`
	RSSHeld        int64     `json:"server_rss_held_bytes,omitempty"`
	RSSPerConn     float64   `json:"server_rss_per_conn_bytes,omitempty"`
	Threads        int       `json:"server_threads,omitempty"`
	RSSCurve       []Point   `json:"server_rss_curve,omitempty"` // (connections, bytes)
	Interrupted    bool      `json:"interrupted,omitempty"`
	Elapsed        float64   `json:"elapsed_s"`
	start          time.Time // unexported: not reported
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
	base, haveProc := cfg.procSample()
	if haveProc {
		r.RSSBase = base.RSS
		r.RSSCurve = append(r.RSSCurve, Point{X: 0, Y: float64(base.RSS)})
	}
	e, err := NewEngine(cfg.engineConfig())
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
	if s, ok := cfg.procSample(); ok {
		r.RSSHeld, r.Threads = s.RSS, s.Threads
		r.RSSCurve = append(r.RSSCurve, Point{X: float64(r.Held), Y: float64(s.RSS)})
		if r.Held > 0 {
			r.RSSPerConn = float64(s.RSS-r.RSSBase) / float64(r.Held)
		}
	}
	f := e.Close()
	r.Opened, r.Failed, r.Dropped = f.Counters.Opened, f.Counters.Failed, f.Counters.Dropped
	r.Handshake = Summarize(f.Handshake)
	r.Causes = f.Causes
	r.Interrupted = ctx.Err() != nil
	r.Elapsed = time.Since(r.start).Seconds()
	return r, nil
}
