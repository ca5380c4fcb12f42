//go:build linux

package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/wsedge/wsedge/bench"
)

func printCauses(w io.Writer, c bench.Causes) {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  failure  %-40s %d\n", k, c[k])
	}
}

func printLatency(w io.Writer, name string, l bench.Latency) {
	fmt.Fprintf(w, "%-10s p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%d)\n", name,
		bench.FormatValue(l.P50, "us"), bench.FormatValue(l.P90, "us"), bench.FormatValue(l.P99, "us"),
		bench.FormatValue(l.P999, "us"), bench.FormatValue(l.Max, "us"), l.Count)
}

func interrupted(w io.Writer, yes bool) {
	if yes {
		fmt.Fprintln(w, "INTERRUPTED: partial results")
	}
}

// printWire prints the bytes on the wire per message beside the message's
// own size, and how many connections agreed to compression.
func printWire(w io.Writer, event string, x bench.Wire, opened int64) {
	if x.Payload <= 0 {
		return
	}
	fmt.Fprintf(w, "wire       %s received per %s of %s (%.2fx), %s sent per message; permessage-deflate on %d of %d connections\n",
		bench.FormatValue(x.RxPerMsg, "B"), event, bench.FormatValue(x.Payload, "B"), x.RxPerMsg/x.Payload,
		bench.FormatValue(x.TxPerMsg, "B"), x.Compressed, opened)
}

// printCost prints the server's cost per event, when it was measured.
func printCost(w io.Writer, event string, c bench.Cost) {
	if c.CPU <= 0 {
		return
	}
	fmt.Fprintf(w, "server     %s CPU per %s (user %s, system %s; %.0f%% of a core), %.2f context switches per %s",
		bench.FormatValue(c.CPU, "us"), event, bench.FormatValue(c.User, "us"), bench.FormatValue(c.Sys, "us"), c.CPUPct, c.CtxSwitches, event)
	if c.Syscalls > 0 {
		fmt.Fprintf(w, ", %.2f syscalls per %s", c.Syscalls, event)
	}
	fmt.Fprintln(w)
}

func printWarnings(w io.Writer, ws []string) {
	for _, s := range ws {
		fmt.Fprintf(w, "warning    %s\n", s)
	}
}

func printIdle(w io.Writer, r bench.IdleResult) {
	interrupted(w, r.Interrupted)
	fmt.Fprintf(w, "idle       %d asked, %d opened, %d failed, %d dropped, %d held\n", r.Conns, r.Opened, r.Failed, r.Dropped, r.Held)
	if r.Token != "" {
		fmt.Fprintf(w, "token      %s\n", r.Token)
	}
	fmt.Fprintf(w, "ramp       %.2fs, %s\n", r.RampSeconds, bench.FormatRate(r.ConnectsPerSec, "connects"))
	if r.Subscriptions != "" {
		fmt.Fprintf(w, "subscribe  %s each: %d connections acked, %d refused\n", r.Subscriptions, r.Subscribed, r.Refused)
	}
	printLatency(w, "handshake", r.Handshake)
	if r.RSSHeld > 0 {
		per := "no figure"
		if r.RSSPerConn > 0 {
			per = bench.FormatValue(r.RSSPerConn, "B")
		}
		fmt.Fprintf(w, "server     RSS %s -> %s, %s per connection, %d threads\n",
			bench.FormatValue(float64(r.RSSBase), "B"), bench.FormatValue(float64(r.RSSHeld), "B"), per, r.Threads)
	}
	if h := r.Heap; h != nil {
		fmt.Fprintf(w, "heap       %s live, %s of spans per connection (server, after a GC)\n",
			bench.FormatValue(h.Live, "B"), bench.FormatValue(h.Spans, "B"))
	}
	if r.ClientRSSPerConn > 0 {
		fmt.Fprintf(w, "client     %s RSS per connection (this process)\n", bench.FormatValue(r.ClientRSSPerConn, "B"))
	}
	printWarnings(w, r.Warnings)
	printCauses(w, r.Causes)
}

func printEcho(w io.Writer, r bench.EchoResult) {
	interrupted(w, r.Interrupted)
	fmt.Fprintf(w, "echo       %d conns x %d B x depth %d: %d msgs in %.2fs = %s\n", r.Conns, r.Size, r.Depth, r.Msgs, r.Seconds, bench.FormatRate(r.MsgsPerSec, "msgs"))
	printLatency(w, "latency", r.Latency)
	printCost(w, "message", r.Server)
	printWire(w, "message", r.Wire, r.Opened)
	fmt.Fprintf(w, "client     %s CPU per message (%.0f%% of a core)\n", bench.FormatValue(r.ClientCPUPerMsg, "us"), r.ClientCPU)
	fmt.Fprintf(w, "errors     %d failed, %d dropped\n", r.Failed, r.Dropped)
	printWarnings(w, r.Warnings)
	printCauses(w, r.Causes)
}

func printBroadcast(w io.Writer, r bench.BroadcastResult) {
	interrupted(w, r.Interrupted)
	fmt.Fprintf(w, "broadcast  %d subscribers (%d acked), %d published, %d/%d delivered, %s\n",
		r.Subs, r.Ready, r.Published, r.Delivered, r.Expected, bench.FormatRate(r.DeliveriesPerSec, "deliveries"))
	printLatency(w, "delivery", r.Latency)
	printCost(w, "delivery", r.Server)
	printWire(w, "delivery", r.Wire, r.Opened)
	printWarnings(w, r.Warnings)
	printCauses(w, r.Causes)
}

func printChurn(w io.Writer, r bench.ChurnResult) {
	interrupted(w, r.Interrupted)
	fmt.Fprintf(w, "churn      %d cycles, %d failed, %d dropped in %.2fs of cycling = %s (settle %.1fs before each reading, not counted)\n",
		r.Cycles, r.Failed, r.Dropped, r.Seconds, bench.FormatRate(r.CyclesPerSec, "cycles"), r.Settle)
	printLatency(w, "handshake", r.Handshake)
	for _, s := range []struct {
		n string
		v bench.ServerState
	}{{"before", r.Before}, {"mid", r.Mid}, {"after", r.After}} {
		rss := "-"
		if s.v.RSS >= 0 {
			rss = bench.FormatValue(float64(s.v.RSS), "B")
		}
		fmt.Fprintf(w, "server     %-6s RSS %s  fds %s  threads %s  goroutines %s  connections %s\n",
			s.n, rss, known(int64(s.v.FDs)), known(int64(s.v.Threads)), known(s.v.Goroutines), known(s.v.Connections))
	}
	printCauses(w, r.Causes)
}

// known prints a server figure, "-" when it is unknown (-1).
func known(v int64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprint(v)
}

func printHandshake(w io.Writer, r bench.HandshakeResult) {
	interrupted(w, r.Interrupted)
	label := func(r bench.HandshakeResult) string {
		if r.Token == "" {
			return "no token"
		}
		return r.Token
	}
	one := func(r bench.HandshakeResult) {
		fmt.Fprintf(w, "handshake  %s: %d cycles (connect, upgrade, close), %d failed, %d dropped in %.2fs = %s\n",
			label(r), r.Cycles, r.Failed, r.Dropped, r.Seconds, bench.FormatRate(r.PerSec, "handshakes"))
		printLatency(w, "upgrade", r.Handshake)
		printCost(w, "handshake", r.Server)
		printWarnings(w, r.Warnings)
		printCauses(w, r.Causes)
	}
	one(r)
	if r.WithToken != nil {
		one(*r.WithToken)
		fmt.Fprintf(w, "ratio      handshakes/s with %s / without: %.2fx (same run, alternating batches)\n", r.WithToken.Token, r.TokenRatio)
	}
}
