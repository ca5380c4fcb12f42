package bench

import (
	"context"
	"fmt"
	"time"
)

// HandshakeConfig is the handshake scenario: Cycles of connect, upgrade and
// close handshake, Concurrency at a time, after Warmup unmeasured cycles;
// it measures the rate and the server's cost of a connection's whole life
// (accept, upgrade, close) with nothing else going on.
type HandshakeConfig struct {
	Common
	Cycles, Concurrency int
	// Warmup cycles run first, unmeasured (pools and heaps grow there);
	// -1 for none, 0 for the default (a tenth of Cycles, at most 2000).
	Warmup int
}

// HandshakeResult is what the handshake scenario measured.
type HandshakeResult struct {
	Cycles  int64 `json:"cycles"` // measured cycles completed
	Failed  int64 `json:"failed"`
	Dropped int64 `json:"dropped"`
	// Seconds runs from the first dial to the end of the last cycle.
	Seconds   float64 `json:"seconds"`
	PerSec    float64 `json:"handshakes_per_s"`
	Handshake Latency `json:"handshake"` // connect start to 101
	// Server is the server's cost per completed cycle (with -server-pid).
	Server      Cost     `json:"server"`
	Causes      Causes   `json:"failures,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
	Interrupted bool     `json:"interrupted,omitempty"`
}

// Handshake runs the handshake scenario.
func Handshake(ctx context.Context, cfg HandshakeConfig) (HandshakeResult, error) {
	var r HandshakeResult
	if cfg.Cycles <= 0 {
		return r, fmt.Errorf("handshake: cycles must be > 0")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 100
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = min(cfg.Cycles/10, 2000)
	}
	if cfg.Warmup > 0 {
		if _, err := cycles(ctx, &cfg.Common, "warmup", cfg.Warmup, cfg.Concurrency, nil); err != nil {
			return r, err
		}
	}
	var m *meter
	f, err := cycles(ctx, &cfg.Common, "handshake", cfg.Cycles, cfg.Concurrency, func() { m = cfg.startMeter(ctx) })
	if err != nil {
		return r, err
	}
	var werr error
	if r.Server, werr = m.stop(f.Counters.Closed); werr != nil {
		r.Warnings = append(r.Warnings, "no syscall counts: "+werr.Error())
	}
	r.Cycles, r.Failed, r.Dropped = f.Counters.Closed, f.Counters.Failed, f.Counters.Dropped
	r.Seconds = f.active.Seconds()
	r.PerSec = Rate(r.Cycles, f.active)
	r.Handshake = Summarize(f.Handshake)
	r.Causes = f.Causes
	r.Interrupted = ctx.Err() != nil
	return r, nil
}

// cycleFinal is an engine's Final plus the time it spent cycling.
type cycleFinal struct {
	Final
	active time.Duration
}

// cycles runs n connect/upgrade/close cycles, concurrency at a time, on a
// fresh engine; begin runs just before the first dial.
func cycles(ctx context.Context, c *Common, phase string, n, concurrency int, begin func()) (cycleFinal, error) {
	ec := c.engineConfig()
	ec.Churn = true
	e, err := NewEngine(ec)
	if err != nil {
		return cycleFinal{}, fmt.Errorf("%s: %w", phase, err)
	}
	p := progressOf(c.Progress)
	p.Start(c.label(phase), int64(n))
	if begin != nil {
		begin()
	}
	t0, c0 := time.Now(), e.now()
	e.Churn(n, concurrency)
	last, lastT := int64(0), t0
	waitFor(ctx, 10*time.Minute, 20*time.Millisecond, func() bool {
		k := e.Counters()
		return k.Closed+k.Failed+k.Dropped >= int64(n)
	}, func() {
		k := e.Counters()
		now := time.Now()
		done := k.Closed + k.Failed + k.Dropped
		if now.Sub(lastT) >= 250*time.Millisecond {
			p.Update(done, fmt.Sprintf("%s %s failed %d", c.label(phase), FormatRate(Rate(done-last, now.Sub(lastT)), "cycles"), k.Failed))
			last, lastT = done, now
		}
	})
	p.Done()
	// The loops note when each cycle ends: the polling above must not add
	// its tick to the measured time.
	active := time.Since(t0)
	if end := e.lastEnd(); end > c0 {
		active = time.Duration(end - c0)
	}
	return cycleFinal{Final: e.Close(), active: active}, nil
}
