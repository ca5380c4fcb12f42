//go:build linux

package bench

import (
	"context"
	"fmt"
	"time"
)

// EchoConfig is the echo scenario: Conns connections each keep Depth
// messages of Size bytes in flight for Duration after a Warmup.
type EchoConfig struct {
	Common
	Conns, Size, Depth int
	Text               bool
	// JSON sends a realistic JSON text message of Size bytes (see
	// NewJSONTemplate) instead of a byte pattern.
	JSON             bool
	Duration, Warmup time.Duration
}

// EchoResult is what the echo scenario measured over the Duration window.
type EchoResult struct {
	Conns      int     `json:"conns"`
	Size       int     `json:"size"`
	Depth      int     `json:"depth"`
	Opened     int64   `json:"opened"` // connections upgraded
	Msgs       int64   `json:"msgs"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_s"`
	Latency    Latency `json:"latency"`
	Wire       Wire    `json:"wire"`
	// Server is the server's cost per echoed message (with -server-pid).
	Server Cost `json:"server"`
	// ClientCPUPerMsg is this client's CPU µs per echoed message
	// (user+system, from /proc); ClientCPU in % of a core.
	ClientCPUPerMsg float64  `json:"client_cpu_us_per_msg"`
	ClientCPU       float64  `json:"client_cpu_pct"`
	Failed          int64    `json:"failed"`
	Dropped         int64    `json:"dropped"`
	Causes          Causes   `json:"failures,omitempty"`
	Warnings        []string `json:"warnings,omitempty"`
	Interrupted     bool     `json:"interrupted,omitempty"`
}

// Echo runs the echo scenario.
func Echo(ctx context.Context, cfg EchoConfig) (EchoResult, error) {
	r := EchoResult{Conns: cfg.Conns, Size: cfg.Size, Depth: cfg.Depth}
	if cfg.Conns <= 0 || cfg.Depth <= 0 || cfg.Duration <= 0 {
		return r, fmt.Errorf("echo: conns, depth and duration must be > 0")
	}
	if err := cfg.prepareTokens(cfg.Conns); err != nil {
		return r, fmt.Errorf("echo: %w", err)
	}
	newTemplate := func() (*Template, error) { return NewEchoTemplate(cfg.Size, cfg.Text) }
	if cfg.JSON {
		newTemplate = func() (*Template, error) { return NewJSONTemplate(cfg.Size) }
	}
	t, err := newTemplate()
	if err != nil {
		return r, fmt.Errorf("echo: %w", err)
	}
	ec := cfg.engineConfig()
	ec.Message, ec.Depth = t, cfg.Depth
	e, err := NewEngine(ec)
	if err != nil {
		return r, fmt.Errorf("echo: %w", err)
	}
	ramp(ctx, &cfg.Common, e, cfg.Conns, 0, time.Minute, nil)
	if e.Counters().Opened == 0 { // nothing to measure: do not wait out the run
		f := e.Close()
		r.Failed, r.Dropped, r.Causes = f.Counters.Failed, f.Counters.Dropped, f.Causes
		r.Interrupted = ctx.Err() != nil
		return r, nil
	}
	e.SetSending(true)
	p := progressOf(cfg.Progress)
	name := fmt.Sprintf("echo %dx%dB", cfg.Conns, cfg.Size)
	live := func(phase string, d time.Duration) {
		p.Start(cfg.label(name+" "+phase), int64(d/time.Millisecond))
		start := time.Now()
		last, lastT := e.Counters().Received, start
		waitFor(ctx, d, 250*time.Millisecond, func() bool { return time.Since(start) >= d }, func() {
			k := e.Counters()
			now := time.Now()
			rate := Rate(k.Received-last, now.Sub(lastT))
			last, lastT = k.Received, now
			p.Update(int64(now.Sub(start)/time.Millisecond), fmt.Sprintf("%s %s msg/s open %d", cfg.label(name), si(rate), k.Open()))
		})
		p.Done()
	}
	if cfg.Warmup > 0 {
		live("warmup", cfg.Warmup)
	}
	m := cfg.startMeter(ctx)
	c0 := selfSample()
	k0 := e.Counters()
	t0 := time.Now()
	e.SetRecording(true)
	if ctx.Err() == nil {
		live("run", cfg.Duration)
	}
	e.SetRecording(false)
	k1 := e.Counters()
	d := time.Since(t0)
	cost, werr := m.stop(k1.Received - k0.Received)
	c1 := selfSample()
	e.SetSending(false)
	f := e.Close()

	r.Msgs = k1.Recorded - k0.Recorded // the messages whose latency was recorded (Counters.Recorded)
	r.Wire = wire(k0, k1)
	r.Seconds = d.Seconds()
	r.MsgsPerSec = Rate(r.Msgs, d)
	r.Latency = Summarize(f.Latency)
	if r.Server = cost; werr != nil {
		r.Warnings = append(r.Warnings, "no syscall counts: "+werr.Error())
	}
	r.ClientCPUPerMsg = cpuPerEvent(c0, c1, r.Msgs)
	r.ClientCPU = cpuPercent(c0, c1)
	r.Opened = f.Counters.Opened
	r.Failed, r.Dropped, r.Causes = f.Counters.Failed, f.Counters.Dropped, f.Causes
	r.Interrupted = ctx.Err() != nil
	return r, nil
}
