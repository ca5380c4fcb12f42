//go:build linux

package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Metric is one figure of a case kind, read from a run.
type Metric struct {
	Name  string
	Unit  string // "B", "us", "/s", "" (count)
	Lower bool   // lower is better
	Get   func(Run) (float64, bool)
	// Worst takes the worst run instead of the median (failure counts).
	Worst bool
}

func idleM(f func(*IdleResult) float64) func(Run) (float64, bool) {
	return func(r Run) (float64, bool) {
		if r.Idle == nil {
			return 0, false
		}
		return f(r.Idle), true
	}
}

func echoM(f func(*EchoResult) float64) func(Run) (float64, bool) {
	return func(r Run) (float64, bool) {
		if r.Echo == nil {
			return 0, false
		}
		return f(r.Echo), true
	}
}

func bcastM(f func(*BroadcastResult) float64) func(Run) (float64, bool) {
	return func(r Run) (float64, bool) {
		if r.Broadcast == nil {
			return 0, false
		}
		return f(r.Broadcast), true
	}
}

func hsM(f func(*HandshakeResult) float64) func(Run) (float64, bool) {
	return func(r Run) (float64, bool) {
		if r.Handshake == nil {
			return 0, false
		}
		return f(r.Handshake), true
	}
}

func churnM(f func(*ChurnResult) float64) func(Run) (float64, bool) {
	return func(r Run) (float64, bool) {
		if r.Churn == nil {
			return 0, false
		}
		return f(r.Churn), true
	}
}

func echoOr0(r Run) EchoResult {
	if r.Echo == nil {
		return EchoResult{}
	}
	return *r.Echo
}

func hsOr0(r Run) HandshakeResult {
	if r.Handshake == nil {
		return HandshakeResult{}
	}
	return *r.Handshake
}

func idleOr0(r Run) IdleResult {
	if r.Idle == nil {
		return IdleResult{}
	}
	return *r.Idle
}

// churnKnown reads a server state figure that may be unknown (-1: no admin
// listener, no /proc): unknown is no value, never a -1 in the table.
func churnKnown(f func(*ChurnResult) (float64, bool)) func(Run) (float64, bool) {
	return func(r Run) (float64, bool) {
		if r.Churn == nil {
			return 0, false
		}
		return f(r.Churn)
	}
}

// Metrics lists the figures reported for a case kind.
func Metrics(kind string) []Metric {
	switch kind {
	case "idle":
		return []Metric{
			{Name: "server RSS/conn", Unit: "B", Lower: true, Get: func(r Run) (float64, bool) {
				// 0 is "no figure" (no /proc, or RSS did not grow), not 0 B.
				return idleOr0(r).RSSPerConn, r.Idle != nil && r.Idle.RSSPerConn > 0
			}},
			{Name: "server live heap/conn", Unit: "B", Lower: true, Get: func(r Run) (float64, bool) {
				// From the admin listener after a GC (wsedge): the structures, without the heap kept.
				return idleOr0(r).heapLive(), r.Idle != nil && r.Idle.Heap != nil
			}},
			{Name: "server threads", Lower: true, Get: idleM(func(r *IdleResult) float64 { return float64(r.Threads) })},
			{Name: "connects/s", Unit: "/s", Get: idleM(func(r *IdleResult) float64 { return r.ConnectsPerSec })},
			{Name: "handshake p99", Unit: "us", Lower: true, Get: idleM(func(r *IdleResult) float64 { return r.Handshake.P99 })},
			{Name: "failed+dropped", Lower: true, Worst: true, Get: idleM(func(r *IdleResult) float64 { return float64(r.Failed + r.Dropped) })},
			{Name: "not subscribed", Lower: true, Worst: true, Get: func(r Run) (float64, bool) {
				// Connections whose subscriptions were refused or not acked.
				return float64(idleOr0(r).Opened - idleOr0(r).Subscribed), r.Idle != nil && r.Idle.Subscriptions != ""
			}},
		}
	case "echo":
		return []Metric{
			{Name: "server CPU/msg", Unit: "us", Lower: true, Get: echoM(func(r *EchoResult) float64 { return r.Server.CPU })},
			{Name: "  of which user", Unit: "us", Lower: true, Get: echoM(func(r *EchoResult) float64 { return r.Server.User })},
			{Name: "  of which system", Unit: "us", Lower: true, Get: echoM(func(r *EchoResult) float64 { return r.Server.Sys })},
			{Name: "server ctx switches/msg", Unit: "x", Lower: true, Get: echoM(func(r *EchoResult) float64 { return r.Server.CtxSwitches })},
			{Name: "server syscalls/msg", Unit: "x", Lower: true, Get: func(r Run) (float64, bool) {
				return echoOr0(r).Server.Syscalls, r.Echo != nil && r.Echo.Server.Syscalls > 0 // only with -perf
			}},
			{Name: "msgs/s", Unit: "/s", Get: echoM(func(r *EchoResult) float64 { return r.MsgsPerSec })},
			{Name: "latency p50", Unit: "us", Lower: true, Get: echoM(func(r *EchoResult) float64 { return r.Latency.P50 })},
			{Name: "latency p99", Unit: "us", Lower: true, Get: echoM(func(r *EchoResult) float64 { return r.Latency.P99 })},
			{Name: "latency p99.9", Unit: "us", Lower: true, Get: echoM(func(r *EchoResult) float64 { return r.Latency.P999 })},
			{Name: "client CPU/msg", Unit: "us", Lower: true, Get: echoM(func(r *EchoResult) float64 { return r.ClientCPUPerMsg })},
			{Name: "compressed conns", Get: func(r Run) (float64, bool) {
				return float64(echoOr0(r).Wire.Compressed), r.Echo != nil && r.Echo.Wire.Compressed > 0
			}},
			{Name: "wire bytes/msg from server", Unit: "B", Lower: true, Get: func(r Run) (float64, bool) {
				// Only with compression: otherwise it is the size plus a header.
				return echoOr0(r).Wire.RxPerMsg, r.Echo != nil && r.Echo.Wire.Compressed > 0
			}},
		}
	case "broadcast":
		return []Metric{
			{Name: "deliveries/s", Unit: "/s", Get: bcastM(func(r *BroadcastResult) float64 { return r.DeliveriesPerSec })},
			{Name: "delivery p50", Unit: "us", Lower: true, Get: bcastM(func(r *BroadcastResult) float64 { return r.Latency.P50 })},
			{Name: "delivery p99", Unit: "us", Lower: true, Get: bcastM(func(r *BroadcastResult) float64 { return r.Latency.P99 })},
			{Name: "server CPU/delivery", Unit: "us", Lower: true, Get: bcastM(func(r *BroadcastResult) float64 { return r.Server.CPU })},
			{Name: "undelivered", Lower: true, Worst: true, Get: bcastM(func(r *BroadcastResult) float64 { return float64(r.Expected - r.Delivered) })},
		}
	case "handshake":
		return []Metric{
			{Name: "handshakes/s", Unit: "/s", Get: hsM(func(r *HandshakeResult) float64 { return r.PerSec })},
			{Name: "server CPU/handshake", Unit: "us", Lower: true, Get: hsM(func(r *HandshakeResult) float64 { return r.Server.CPU })},
			{Name: "  of which user", Unit: "us", Lower: true, Get: hsM(func(r *HandshakeResult) float64 { return r.Server.User })},
			{Name: "  of which system", Unit: "us", Lower: true, Get: hsM(func(r *HandshakeResult) float64 { return r.Server.Sys })},
			{Name: "server syscalls/handshake", Unit: "x", Lower: true, Get: func(r Run) (float64, bool) {
				return hsOr0(r).Server.Syscalls, r.Handshake != nil && r.Handshake.Server.Syscalls > 0
			}},
			{Name: "handshake p99", Unit: "us", Lower: true, Get: hsM(func(r *HandshakeResult) float64 { return r.Handshake.P99 })},
			{Name: "failed", Lower: true, Worst: true, Get: hsM(func(r *HandshakeResult) float64 { return float64(r.Failed + r.Dropped) })},
		}
	case "churn":
		return []Metric{
			{Name: "cycles/s", Unit: "/s", Get: churnM(func(r *ChurnResult) float64 { return r.CyclesPerSec })},
			{Name: "RSS growth 2nd half", Unit: "B", Lower: true, Get: churnKnown(func(r *ChurnResult) (float64, bool) {
				return float64(r.After.RSS - r.Mid.RSS), r.After.RSS >= 0 && r.Mid.RSS >= 0
			})},
			{Name: "fds after", Lower: true, Get: churnKnown(func(r *ChurnResult) (float64, bool) { return float64(r.After.FDs), r.After.FDs >= 0 })},
			{Name: "goroutines after", Lower: true, Get: churnKnown(func(r *ChurnResult) (float64, bool) {
				return float64(r.After.Goroutines), r.After.Goroutines >= 0
			})},
			{Name: "failed", Lower: true, Worst: true, Get: churnM(func(r *ChurnResult) float64 { return float64(r.Failed + r.Dropped) })},
		}
	}
	return nil
}

// Row is one line of the comparison table.
type Row struct {
	Case   string             `json:"case"`
	Metric string             `json:"metric"`
	Unit   string             `json:"unit"`
	Lower  bool               `json:"lower_is_better"`
	Values map[string]float64 `json:"values"`
	Ratios map[string]float64 `json:"ratios"` // value / ref value
}

// Aggregate reduces runs to one value: the median, or the worst when
// worst is set; ok is false when no run produced the figure.
func Aggregate(runs []Run, m Metric) (float64, bool) {
	var xs []float64
	for _, r := range runs {
		if v, ok := m.Get(r); ok && r.Error == "" && !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	if m.Worst {
		w := xs[0]
		for _, x := range xs[1:] {
			if (m.Lower && x > w) || (!m.Lower && x < w) {
				w = x
			}
		}
		return w, true
	}
	return Median(xs), true
}

// Table turns a comparison into rows.
func (res *CompareResult) Table() []Row {
	var rows []Row
	for _, c := range res.Cases {
		for _, m := range Metrics(c.Kind) {
			row := Row{Case: c.Name, Metric: m.Name, Unit: m.Unit, Lower: m.Lower,
				Values: map[string]float64{}, Ratios: map[string]float64{}}
			for _, s := range res.Servers {
				if v, ok := Aggregate(res.Runs[c.Name][s], m); ok {
					row.Values[s] = v
				}
			}
			if len(row.Values) == 0 {
				continue
			}
			ref, ok := row.Values[res.Ref]
			for s, v := range row.Values {
				if ok && !m.Worst {
					if r := Ratio(v, ref); !math.IsNaN(r) {
						row.Ratios[s] = r
					}
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// WriteTable prints the comparison table: each cell is the median over
// rounds and, for servers other than the reference, its ratio to it.
func (res *CompareResult) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\tmetric\t")
	for _, s := range res.Servers {
		fmt.Fprintf(tw, "%s\t", s)
	}
	fmt.Fprintln(tw)
	last := ""
	for _, r := range res.Table() {
		name := r.Case
		if name == last {
			name = ""
		}
		last = r.Case
		better := "higher better"
		if r.Lower {
			better = "lower better"
		}
		if r.Unit == "" && r.Lower {
			better = "lower better"
		}
		fmt.Fprintf(tw, "%s\t%s (%s)\t", name, r.Metric, better)
		for _, s := range res.Servers {
			v, ok := r.Values[s]
			if !ok {
				fmt.Fprintf(tw, "-\t")
				continue
			}
			cell := FormatValue(v, r.Unit)
			if q, ok := r.Ratios[s]; ok && s != res.Ref {
				cell += fmt.Sprintf(" (%.2fx)", q)
			}
			fmt.Fprintf(tw, "%s\t", cell)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nratios are value / %s value; medians of %d interleaved round(s); %.0fs total", res.Ref, res.Rounds, res.Seconds)
	if res.TLS {
		fmt.Fprint(w, "; every case over wss:// (TLS 1.3, self-signed ECDSA P-256)")
	}
	if res.Compression {
		fmt.Fprint(w, "; permessage-deflate negotiated")
	}
	if res.Interrupted {
		fmt.Fprint(w, "; INTERRUPTED: partial results")
	}
	fmt.Fprintln(w)
	for s, why := range res.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", s, firstLine(why))
	}
	return nil
}

// FormatRate renders events per second of what ("17.4k connects/s"): the
// unit once, not "17.4k/s connects/s".
func FormatRate(v float64, what string) string { return si(v) + " " + what + "/s" }

// FormatValue renders a figure with its unit: bytes in B/KiB/MiB, times in
// µs/ms, rates with k/M.
func FormatValue(v float64, unit string) string {
	switch unit {
	case "B":
		a := math.Abs(v)
		switch {
		case a >= 1<<20:
			return fmt.Sprintf("%.2f MiB", v/(1<<20))
		case a >= 1<<10:
			return fmt.Sprintf("%.2f KiB", v/(1<<10))
		}
		return fmt.Sprintf("%.0f B", v)
	case "us":
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.2f s", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.2f ms", v/1e3)
		case v >= 10:
			return fmt.Sprintf("%.0f us", v)
		}
		return fmt.Sprintf("%.2f us", v)
	case "/s":
		return si(v) + "/s"
	case "x": // a count per event: 2 decimals
		return fmt.Sprintf("%.2f", v)
	}
	return strings.TrimSuffix(fmt.Sprintf("%.0f", v), ".0")
}
