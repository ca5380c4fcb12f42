//go:build linux

package bench

import (
	"context"
	"fmt"
	"time"
)

// ChurnConfig is the churn scenario: Cycles connect / upgrade / close
// handshake cycles, Concurrency at a time, in two halves; the server is
// sampled before, between and after (Settle after each half; 0 samples at
// once).
type ChurnConfig struct {
	Common
	Cycles, Concurrency int
	Settle              time.Duration
}

// DefaultSettle is the wait before each churn reading that the command line
// and compare use: long enough for a server to finish closing.
const DefaultSettle = 2 * time.Second

// ServerState is a server snapshot (-1 where unknown).
type ServerState struct {
	RSS         int64 `json:"rss_bytes"`
	FDs         int   `json:"fds"`
	Threads     int   `json:"threads"`
	Goroutines  int64 `json:"goroutines"`
	Connections int64 `json:"connections"`
}

// ChurnResult is what the churn scenario measured. A leak shows as growth
// from Mid to After (the first half warms pools and heaps up).
type ChurnResult struct {
	Cycles  int64 `json:"cycles"` // close handshakes completed
	Failed  int64 `json:"failed"`
	Dropped int64 `json:"dropped"`
	// Seconds is the time spent cycling (both halves, from the first dial
	// to the last cycle's end), the basis of CyclesPerSec; Elapsed adds the
	// settle waits and server readings.
	Seconds      float64     `json:"seconds"`
	CyclesPerSec float64     `json:"cycles_per_s"`
	Settle       float64     `json:"settle_s"`
	Elapsed      float64     `json:"elapsed_s"`
	Handshake    Latency     `json:"handshake"`
	Before       ServerState `json:"before"`
	Mid          ServerState `json:"mid"`
	After        ServerState `json:"after"`
	Causes       Causes      `json:"failures,omitempty"`
	Interrupted  bool        `json:"interrupted,omitempty"`
}

// Churn runs the churn scenario.
func Churn(ctx context.Context, cfg ChurnConfig) (ChurnResult, error) {
	var r ChurnResult
	if cfg.Cycles <= 0 {
		return r, fmt.Errorf("churn: cycles must be > 0")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 100
	}
	if cfg.Settle < 0 {
		return r, fmt.Errorf("churn: settle must be >= 0")
	}
	r.Settle = cfg.Settle.Seconds()
	if err := cfg.prepareTokens(cfg.Cycles); err != nil {
		return r, fmt.Errorf("churn: %w", err)
	}
	start := time.Now()
	r.Before = cfg.serverState(ctx)
	hs := NewHistogram()
	var active time.Duration
	r.Causes = Causes{}
	for half, n := range []int{cfg.Cycles / 2, cfg.Cycles - cfg.Cycles/2} {
		if ctx.Err() != nil {
			break
		}
		f, err := cycles(ctx, &cfg.Common, fmt.Sprintf("churn %d/2", half+1), n, cfg.Concurrency, 0, nil)
		if err != nil {
			return r, fmt.Errorf("churn: %w", err)
		}
		active += f.active
		r.Cycles += f.Counters.Closed
		r.Failed += f.Counters.Failed
		r.Dropped += f.Counters.Dropped
		r.Causes.Add(f.Causes)
		hs.Merge(f.Handshake)
		if cfg.Settle > 0 {
			sleepCtx(ctx, cfg.Settle)
		}
		if half == 0 {
			r.Mid = cfg.serverState(ctx)
		} else {
			r.After = cfg.serverState(ctx)
		}
	}
	r.Seconds = active.Seconds()
	r.CyclesPerSec = Rate(r.Cycles, active)
	r.Elapsed = time.Since(start).Seconds()
	r.Handshake = Summarize(hs)
	r.Interrupted = ctx.Err() != nil
	return r, nil
}

func (c *Common) serverState(ctx context.Context) ServerState {
	s := ServerState{RSS: -1, FDs: -1, Threads: -1, Goroutines: -1, Connections: -1}
	if p, ok := c.procSample(); ok {
		s.RSS, s.FDs, s.Threads = p.RSS, p.FDs, p.Threads
	}
	if c.AdminAddr != "" {
		if a, err := ReadAdmin(context.WithoutCancel(ctx), c.AdminAddr); err == nil {
			s.Goroutines, s.Connections = a.Goroutines, a.Connections
		}
	}
	return s
}
