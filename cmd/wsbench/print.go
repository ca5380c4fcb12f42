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

func printIdle(w io.Writer, r bench.IdleResult) {
	interrupted(w, r.Interrupted)
	fmt.Fprintf(w, "idle       %d asked, %d opened, %d failed, %d dropped, %d held\n", r.Conns, r.Opened, r.Failed, r.Dropped, r.Held)
	fmt.Fprintf(w, "ramp       %.2fs, %s connects/s\n", r.RampSeconds, bench.FormatValue(r.ConnectsPerSec, "/s"))
	printLatency(w, "handshake", r.Handshake)
	if r.RSSHeld > 0 {
		fmt.Fprintf(w, "server     RSS %s -> %s, %s per connection, %d threads\n",
			bench.FormatValue(float64(r.RSSBase), "B"), bench.FormatValue(float64(r.RSSHeld), "B"), bench.FormatValue(r.RSSPerConn, "B"), r.Threads)
	}
	printCauses(w, r.Causes)
}

func printEcho(w io.Writer, r bench.EchoResult) {
	interrupted(w, r.Interrupted)
	fmt.Fprintf(w, "echo       %d conns x %d B x depth %d: %d msgs in %.2fs = %s\n", r.Conns, r.Size, r.Depth, r.Msgs, r.Seconds, bench.FormatValue(r.MsgsPerSec, "/s"))
	printLatency(w, "latency", r.Latency)
	if r.ServerCPUPerMsg > 0 {
		fmt.Fprintf(w, "server     %s CPU per message (%.0f%% of a core)\n", bench.FormatValue(r.ServerCPUPerMsg, "us"), r.ServerCPU)
	}
	fmt.Fprintf(w, "client     %s CPU per message (%.0f%% of a core)\n", bench.FormatValue(r.ClientCPUPerMsg, "us"), r.ClientCPU)
	fmt.Fprintf(w, "errors     %d failed, %d dropped\n", r.Failed, r.Dropped)
	printCauses(w, r.Causes)
}

func printBroadcast(w io.Writer, r bench.BroadcastResult) {
	interrupted(w, r.Interrupted)
	fmt.Fprintf(w, "broadcast  %d subscribers (%d acked), %d published, %d/%d delivered, %s deliveries/s\n",
		r.Subs, r.Ready, r.Published, r.Delivered, r.Expected, bench.FormatValue(r.DeliveriesPerSec, "/s"))
	printLatency(w, "delivery", r.Latency)
	if r.ServerCPUPerMsg > 0 {
		fmt.Fprintf(w, "server     %s CPU per delivery\n", bench.FormatValue(r.ServerCPUPerMsg, "us"))
	}
	printCauses(w, r.Causes)
}

func printChurn(w io.Writer, r bench.ChurnResult) {
	interrupted(w, r.Interrupted)
	fmt.Fprintf(w, "churn      %d cycles, %d failed, %d dropped in %.2fs = %s cycles/s\n", r.Cycles, r.Failed, r.Dropped, r.Seconds, bench.FormatValue(r.CyclesPerSec, "/s"))
	printLatency(w, "handshake", r.Handshake)
	for _, s := range []struct {
		n string
		v bench.ServerState
	}{{"before", r.Before}, {"mid", r.Mid}, {"after", r.After}} {
		fmt.Fprintf(w, "server     %-6s RSS %s  fds %d  threads %d  goroutines %d  connections %d\n",
			s.n, bench.FormatValue(float64(s.v.RSS), "B"), s.v.FDs, s.v.Threads, s.v.Goroutines, s.v.Connections)
	}
	printCauses(w, r.Causes)
}
