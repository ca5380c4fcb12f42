//go:build linux

package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"
)

// Common are the settings every scenario shares.
type Common struct {
	Target  Target
	Loops   int // client epoll loops (default 2)
	Sources int // 127.0.0.x source addresses (default 32)
	// ServerPID, when set, adds server figures from /proc (RSS, CPU, threads).
	ServerPID int
	// AdminAddr, when set, is the server's admin listener (host:port) for
	// goroutines and connection count.
	AdminAddr string
	Progress  Progress
	// Label prefixes live lines (the server's name in a comparison).
	Label string
	// Perf counts the server's system calls with `perf stat` during
	// measured windows (needs perf and the permission to attach).
	Perf bool
	// Insecure skips the verification of a wss:// server's certificate;
	// RootCAs, when set, replaces the system's roots for it.
	Insecure bool
	RootCAs  *x509.CertPool
	// Compression, when set, is the permessage-deflate offer every
	// connection makes (DefaultDeflateOffer lets the server choose).
	Compression string
	// Token, when enabled, makes every connection present a token.
	Token  TokenConfig
	tokens *tokens
}

func (c *Common) engineConfig() EngineConfig {
	ec := EngineConfig{Target: c.Target, Loops: c.Loops, Sources: c.Sources, tokens: c.tokens, Deflate: c.Compression}
	if c.Target.TLS {
		// No session cache: every connection makes a full handshake, the
		// cost a server pays for a new client.
		ec.TLS = &tls.Config{ServerName: c.Target.ServerName, InsecureSkipVerify: c.Insecure, RootCAs: c.RootCAs}
	}
	return ec
}

// prepareTokens mints the tokens of connections 0..n-1 ahead of the run
// (nothing without Token).
func (c *Common) prepareTokens(n int) error {
	if !c.Token.Enabled() || c.tokens != nil {
		return nil
	}
	ts, err := newTokens(c.Token, n)
	if err != nil {
		return err
	}
	c.tokens = ts
	return nil
}

func (c *Common) label(s string) string {
	if c.Label == "" {
		return s
	}
	return c.Label + " " + s
}

// procSample samples the server, if a pid is known.
func (c *Common) procSample() (ProcSample, bool) {
	if c.ServerPID <= 0 {
		return ProcSample{}, false
	}
	s, err := ReadProc(c.ServerPID)
	return s, err == nil
}

// selfSample samples this process (the client), for its CPU per message.
func selfSample() ProcSample {
	s, _ := ReadProc(os.Getpid())
	return s
}

// sleepCtx sleeps d, or less when ctx ends; it reports whether ctx is alive.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// waitFor polls cond every tick until it holds, the deadline passes or ctx
// ends, calling show at each tick; it reports whether cond held.
func waitFor(ctx context.Context, deadline time.Duration, tick time.Duration, cond func() bool, show func()) bool {
	end := time.Now().Add(deadline)
	for {
		if cond() {
			show()
			return true
		}
		show()
		if time.Now().After(end) || !sleepCtx(ctx, tick) {
			return cond()
		}
	}
}

// cpuPerEvent is CPU time between two samples per event, in microseconds.
func cpuPerEvent(a, b ProcSample, events int64) float64 {
	if events <= 0 || b.CPUTicks < a.CPUTicks {
		return 0
	}
	return float64(b.CPU()-a.CPU()) / 1e3 / float64(events)
}

// cpuPercent is CPU use between two samples as a percentage of one core.
func cpuPercent(a, b ProcSample) float64 {
	d := b.At.Sub(a.At)
	if d <= 0 {
		return 0
	}
	return 100 * float64(b.CPU()-a.CPU()) / float64(d)
}

func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func ramp(ctx context.Context, c *Common, e *Engine, n, rate int, timeout time.Duration, onTick func()) time.Duration {
	p := progressOf(c.Progress)
	p.Start(c.label(fmt.Sprintf("ramp %d", n)), int64(n))
	defer p.Done()
	start := time.Now()
	asked := 0
	if rate <= 0 {
		e.Dial(n)
		asked = n
	}
	var lastN int64
	lastT := start
	waitFor(ctx, timeout, 50*time.Millisecond, func() bool {
		k := e.Counters()
		return k.Opened+k.Failed >= int64(n)
	}, func() {
		if rate > 0 && asked < n {
			due := int(float64(rate) * time.Since(start).Seconds())
			if due > n {
				due = n
			}
			if due > asked {
				e.Dial(due - asked)
				asked = due
			}
		}
		k := e.Counters()
		now := time.Now()
		r := Rate(k.Opened-lastN, now.Sub(lastT))
		lastN, lastT = k.Opened, now
		p.Update(k.Opened+k.Failed, fmt.Sprintf("%s open %d failed %d  %s conn/s", c.label("ramp"), k.Open(), k.Failed, si(r)))
		if onTick != nil {
			onTick()
		}
	})
	return time.Since(start)
}

// Wire is what went over the wire per message (WebSocket frames, before
// TLS) next to the messages' own size, measured over a window.
type Wire struct {
	// Compressed counts the connections that agreed to permessage-deflate.
	Compressed int64   `json:"compressed_conns"`
	RxPerMsg   float64 `json:"rx_bytes_per_msg"`      // frame bytes received per message
	TxPerMsg   float64 `json:"tx_bytes_per_msg"`      // frame bytes sent per message sent
	Payload    float64 `json:"payload_bytes_per_msg"` // message bytes received per message
}

// wire computes Wire between two counter readings.
func wire(k0, k1 Counters) Wire {
	w := Wire{Compressed: k1.Compressed}
	if n := k1.Received - k0.Received; n > 0 {
		w.RxPerMsg = float64(k1.RxWire-k0.RxWire) / float64(n)
		w.Payload = float64(k1.RxPayload-k0.RxPayload) / float64(n)
	}
	if n := k1.Sent - k0.Sent; n > 0 {
		w.TxPerMsg = float64(k1.TxWire-k0.TxWire) / float64(n)
	}
	return w
}
