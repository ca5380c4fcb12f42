package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// HandshakeConfig is the handshake scenario: Cycles of connect, upgrade and
// close handshake, Concurrency at a time, after Warmup unmeasured cycles;
// it measures the rate and the server's cost of a connection's whole life
// (accept, upgrade, close) with nothing else going on. With a Token, the
// same run measures connections without and with it, in alternating
// batches, so the two figures share the machine's drift.
type HandshakeConfig struct {
	Common
	Cycles, Concurrency int
	// Warmup cycles run first, unmeasured (pools and heaps grow there);
	// -1 for none, 0 for the default (a tenth of Cycles, at most 2000).
	Warmup int
	// Rounds is the number of batches per variant with a Token (default 4,
	// the command line uses 8:
	// without, with, with, without, without, with...).
	Rounds int
}

// HandshakeResult is what the handshake scenario measured (without a
// token when the run compared both; WithToken is the other half).
type HandshakeResult struct {
	Cycles  int64 `json:"cycles"` // measured cycles completed
	Failed  int64 `json:"failed"`
	Dropped int64 `json:"dropped"`
	// Seconds runs from the first dial to the end of the last cycle (summed
	// over batches).
	Seconds   float64 `json:"seconds"`
	PerSec    float64 `json:"handshakes_per_s"`
	Handshake Latency `json:"handshake"` // connect start to 101
	// Server is the server's cost per completed cycle (with -server-pid).
	Server Cost   `json:"server"`
	Token  string `json:"token,omitempty"` // what each connection presented
	// WithToken is the same measurement with the token, and TokenRatio its
	// handshakes/s over this one's.
	WithToken   *HandshakeResult `json:"with_token,omitempty"`
	TokenRatio  float64          `json:"token_ratio,omitempty"`
	Causes      Causes           `json:"failures,omitempty"`
	Warnings    []string         `json:"warnings,omitempty"`
	Interrupted bool             `json:"interrupted,omitempty"`
}

// Handshake runs the handshake scenario.
func Handshake(ctx context.Context, cfg HandshakeConfig) (HandshakeResult, error) {
	if cfg.Cycles <= 0 {
		return HandshakeResult{}, fmt.Errorf("handshake: cycles must be > 0")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 100
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = min(cfg.Cycles/10, 2000)
	}
	variants := []*Common{&cfg.Common}
	rounds := 1
	if cfg.Token.Enabled() {
		if err := cfg.prepareTokens(cfg.Cycles + max(cfg.Warmup, 0)); err != nil {
			return HandshakeResult{}, fmt.Errorf("handshake: %w", err)
		}
		anon := cfg.Common
		anon.Token, anon.tokens = TokenConfig{}, nil
		variants = []*Common{&anon, &cfg.Common}
		rounds = cfg.Rounds
		if rounds <= 0 {
			rounds = 4
		}
	}
	accs := make([]hsAcc, len(variants))
	for i, v := range variants {
		accs[i].init(v)
		if cfg.Warmup > 0 {
			if _, err := cycles(ctx, v, "warmup", cfg.Warmup, cfg.Concurrency, 0, nil); err != nil {
				return HandshakeResult{}, err
			}
		}
	}
	for round := 0; round < rounds && ctx.Err() == nil; round++ {
		n := cfg.Cycles / rounds
		if round == rounds-1 {
			n = cfg.Cycles - n*(rounds-1)
		}
		for j := range variants {
			i := j
			if round%2 == 1 { // alternate the order: A B, B A, A B...
				i = len(variants) - 1 - j
			}
			v := variants[i]
			var m *meter
			f, err := cycles(ctx, v, "handshake", n, cfg.Concurrency, cfg.Warmup+round*(cfg.Cycles/rounds), func() { m = v.startMeter(ctx) })
			if err != nil {
				return HandshakeResult{}, err
			}
			cost, werr := m.stop(f.Counters.Closed)
			accs[i].add(f, cost, werr)
		}
	}
	r := accs[0].result()
	if len(accs) > 1 {
		w := accs[1].result()
		w.Interrupted = ctx.Err() != nil
		r.WithToken = &w
		r.TokenRatio = Ratio(w.PerSec, r.PerSec)
	}
	r.Interrupted = ctx.Err() != nil
	return r, nil
}

// hsAcc sums one variant's batches.
type hsAcc struct {
	token                 string
	cycles, failed, drops int64
	active                time.Duration
	hs                    *hdrhistogram.Histogram
	causes                Causes
	warnings              []string
	cpu, user, sys, ctxsw float64 // totals: per-event figures x events
	syscalls              float64
}

func (a *hsAcc) init(c *Common) {
	a.hs, a.causes = NewHistogram(), Causes{}
	if c.Token.Enabled() {
		a.token = c.Token.Describe()
	}
}

func (a *hsAcc) add(f cycleFinal, c Cost, werr error) {
	n := float64(f.Counters.Closed)
	a.cycles += f.Counters.Closed
	a.failed += f.Counters.Failed
	a.drops += f.Counters.Dropped
	a.active += f.active
	a.hs.Merge(f.Handshake)
	a.causes.Add(f.Causes)
	a.cpu, a.user, a.sys, a.ctxsw = a.cpu+c.CPU*n, a.user+c.User*n, a.sys+c.Sys*n, a.ctxsw+c.CtxSwitches*n
	a.syscalls += c.Syscalls * n
	if werr != nil && len(a.warnings) == 0 {
		a.warnings = append(a.warnings, "no syscall counts: "+werr.Error())
	}
}

func (a *hsAcc) result() HandshakeResult {
	r := HandshakeResult{Cycles: a.cycles, Failed: a.failed, Dropped: a.drops, Seconds: a.active.Seconds(),
		PerSec: Rate(a.cycles, a.active), Handshake: Summarize(a.hs), Token: a.token, Causes: a.causes, Warnings: a.warnings}
	if a.cycles > 0 {
		n := float64(a.cycles)
		r.Server = Cost{CPU: a.cpu / n, User: a.user / n, Sys: a.sys / n, CtxSwitches: a.ctxsw / n, Syscalls: a.syscalls / n}
		if a.active > 0 {
			r.Server.CPUPct = 100 * a.cpu * 1e3 / float64(a.active)
		}
	}
	return r
}

// cycleFinal is an engine's Final plus the time it spent cycling.
type cycleFinal struct {
	Final
	active time.Duration
}

// cycles runs n connect/upgrade/close cycles, concurrency at a time, on a
// fresh engine whose connections are numbered from firstID; begin runs
// just before the first dial.
func cycles(ctx context.Context, c *Common, phase string, n, concurrency, firstID int, begin func()) (cycleFinal, error) {
	ec := c.engineConfig()
	ec.Churn, ec.FirstID = true, firstID
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
