package bench

import (
	"context"
	"fmt"
	"time"
)

// A server that served connections before a memory reading reuses the heap
// they freed, so its RSS grows less than the new connections cost (or even
// shrinks): the per-connection figure is understated. These thresholds say
// when a server counts as used.
const (
	// usedAccepted: connections accepted before the run (compare's readiness
	// probe and a health check or two stay under it).
	usedAccepted = 10
	// usedCPU: CPU time spent before the run (a fresh wsedge or peer has
	// spent well under 0.1 s).
	usedCPU = 2 * time.Second
	// usedPeak: how far the peak RSS may exceed the current RSS.
	usedPeak = 8 << 20
)

// usedServer returns why the server looks used before a memory reading
// (nil when it looks fresh). adm is nil without an admin listener.
func usedServer(p ProcSample, adm *AdminSample) []string {
	var why []string
	if adm != nil && adm.Accepted > usedAccepted {
		why = append(why, fmt.Sprintf("the server accepted %d connections before this run", adm.Accepted))
	}
	if p.CPU() > usedCPU {
		why = append(why, fmt.Sprintf("the server used %.1f s of CPU before this run", p.CPU().Seconds()))
	}
	if p.HWM-p.RSS > usedPeak {
		why = append(why, fmt.Sprintf("the server's RSS peaked at %s before this run (now %s)",
			FormatValue(float64(p.HWM), "B"), FormatValue(float64(p.RSS), "B")))
	}
	if len(why) == 0 {
		return nil
	}
	out := make([]string, 0, len(why)+1)
	for _, w := range why {
		out = append(out, w+": RSS per connection is understated (freed memory is reused); measure a freshly started server")
	}
	return out
}

// rssPerConn is the server's RSS growth per held connection. A growth that
// is not positive gives no figure (ok false) and a warning: a negative
// "cost per connection" is never a result.
func rssPerConn(base, held, conns int64) (perConn float64, warn string, ok bool) {
	if conns <= 0 {
		return 0, "", false
	}
	if held <= base {
		return 0, fmt.Sprintf("server RSS did not grow (%s -> %s with %d connections): no per-connection figure",
			FormatValue(float64(base), "B"), FormatValue(float64(held), "B"), conns), false
	}
	return float64(held-base) / float64(conns), "", true
}

// baseline samples the server before a memory reading and returns the
// warnings that a used server deserves.
func (c *Common) baseline(ctx context.Context) (ProcSample, bool, []string) {
	p, ok := c.procSample()
	if !ok {
		return p, false, nil
	}
	var adm *AdminSample
	if c.AdminAddr != "" {
		if a, err := ReadAdmin(context.WithoutCancel(ctx), c.AdminAddr); err == nil {
			adm = &a
		}
	}
	return p, true, usedServer(p, adm)
}
