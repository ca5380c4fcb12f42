//go:build linux

package bench

import (
	"context"
	"fmt"
	"time"
)

// BroadcastConfig is the broadcast scenario on wsedge's JSON protocol: Subs
// connections subscribe to Channel, one more publishes at Rate per second
// for Duration; each delivery's latency is measured from the timestamp in
// the published data.
type BroadcastConfig struct {
	Common
	Subs     int
	Rate     float64
	Duration time.Duration
	Channel  string // default "bench"
}

// BroadcastResult is what the broadcast scenario measured.
type BroadcastResult struct {
	Subs             int      `json:"subs"`
	Opened           int64    `json:"opened"` // subscriber connections upgraded
	Ready            int64    `json:"ready"`  // subscriptions acknowledged
	Published        int64    `json:"published"`
	Expected         int64    `json:"expected"` // published x ready
	Delivered        int64    `json:"delivered"`
	Seconds          float64  `json:"seconds"`
	DeliveriesPerSec float64  `json:"deliveries_per_s"`
	Latency          Latency  `json:"latency"`
	Wire             Wire     `json:"wire"`   // per delivery
	Server           Cost     `json:"server"` // per delivery, with -server-pid
	Warnings         []string `json:"warnings,omitempty"`
	Failed           int64    `json:"failed"`
	Dropped          int64    `json:"dropped"`
	Causes           Causes   `json:"failures,omitempty"`
	Interrupted      bool     `json:"interrupted,omitempty"`
}

// Broadcast runs the broadcast scenario against Target (a /ws path).
func Broadcast(ctx context.Context, cfg BroadcastConfig) (BroadcastResult, error) {
	r := BroadcastResult{Subs: cfg.Subs}
	if cfg.Subs <= 0 || cfg.Rate <= 0 || cfg.Duration <= 0 {
		return r, fmt.Errorf("broadcast: subs, rate and duration must be > 0")
	}
	if cfg.Channel == "" {
		cfg.Channel = "bench"
	}
	if err := cfg.prepareTokens(cfg.Subs + 1); err != nil {
		return r, fmt.Errorf("broadcast: %w", err)
	}
	ec := cfg.engineConfig()
	sub := []byte(`{"type":"subscribe","id":"s","channel":"` + cfg.Channel + `"}`)
	ec.Open = func(int) [][]byte { return [][]byte{sub} }
	subs, err := NewEngine(ec)
	if err != nil {
		return r, fmt.Errorf("broadcast: %w", err)
	}
	defer func() {
		if !subs.closed {
			subs.Close()
		}
	}()
	ramp(ctx, &cfg.Common, subs, cfg.Subs, 0, 2*time.Minute, nil)
	if subs.Counters().Opened == 0 { // nobody to publish to
		f := subs.Close()
		r.Failed, r.Dropped, r.Causes = f.Counters.Failed, f.Counters.Dropped, f.Causes
		r.Interrupted = ctx.Err() != nil
		return r, nil
	}
	p := progressOf(cfg.Progress)
	p.Start(cfg.label("subscribe"), int64(cfg.Subs))
	waitFor(ctx, 30*time.Second, 100*time.Millisecond, func() bool {
		k := subs.Counters()
		return k.Acked+k.Refused >= k.Open()
	}, func() { p.Update(subs.Counters().Acked, cfg.label("acks")) })
	p.Done()
	r.Ready = subs.Counters().Acked

	pt, err := NewTextTemplate(`{"type":"publish","channel":"` + cfg.Channel + `","data":"@0000000000000000"}`)
	if err != nil {
		return r, err
	}
	pc := cfg.engineConfig()
	pc.Loops, pc.Message, pc.FirstID = 1, pt, cfg.Subs
	pub, err := NewEngine(pc)
	if err != nil {
		return r, fmt.Errorf("broadcast publisher: %w", err)
	}
	defer pub.Close()
	pub.Dial(1)
	if !waitFor(ctx, 10*time.Second, 20*time.Millisecond, func() bool { return pub.Counters().Opened+pub.Counters().Failed >= 1 }, func() {}) ||
		pub.Counters().Opened == 0 {
		return r, fmt.Errorf("broadcast: publisher could not connect: %v", pub.Close().Causes)
	}

	m := cfg.startMeter(ctx)
	k0 := subs.Counters()
	d0 := k0.Timed
	subs.SetRecording(true)
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	p.Start(cfg.label("broadcast"), int64(cfg.Duration/time.Millisecond))
	tick := time.NewTicker(interval)
	last, lastT := d0, start
	nextShow := start
loop:
	for time.Since(start) < cfg.Duration {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		pub.Publish(1)
		r.Published++
		if now := time.Now(); now.After(nextShow) {
			k := subs.Counters()
			p.Update(int64(now.Sub(start)/time.Millisecond), fmt.Sprintf("%s %s deliveries/s", cfg.label("broadcast"), si(Rate(k.Timed-last, now.Sub(lastT)))))
			last, lastT, nextShow = k.Timed, now, now.Add(250*time.Millisecond)
		}
	}
	tick.Stop()
	p.Done()
	r.Expected = r.Published * r.Ready
	// Let deliveries in flight arrive, for at most 10 s (a loaded machine,
	// the race-enabled suite on 2 cores, once delayed the last past 5 s).
	waitFor(ctx, 10*time.Second, 50*time.Millisecond, func() bool { return subs.Counters().Timed-d0 >= r.Expected }, func() {})
	d := time.Since(start)
	subs.SetRecording(false)
	k1 := subs.Counters()
	cost, werr := m.stop(k1.Timed - d0)
	r.Wire = wire(k0, k1)
	f := subs.Close()
	r.Opened = f.Counters.Opened
	r.Delivered = f.Counters.Timed - d0
	r.Seconds = d.Seconds()
	r.DeliveriesPerSec = Rate(r.Delivered, d)
	r.Latency = Summarize(f.Latency)
	if r.Server = cost; werr != nil {
		r.Warnings = append(r.Warnings, "no syscall counts: "+werr.Error())
	}
	r.Failed, r.Dropped, r.Causes = f.Counters.Failed, f.Counters.Dropped, f.Causes
	r.Interrupted = ctx.Err() != nil
	return r, nil
}
