package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wsedge/wsedge/bench"
)

// runAPI is the api scenario: publishes through the server API to subscribers spread over
// the nodes, then the same through a client's publish, for comparison.
func runAPI(ctx context.Context, fs *flag.FlagSet, o *options, args []string, stdout, stderr io.Writer, limit uint64) error {
	o.register(fs, "/ws")
	nodes := fs.String("nodes", "", "more nodes' WebSocket URLs, comma-separated: subscribers are spread over -url and these")
	apiURL := fs.String("api", "http://127.0.0.1:8000", "the server API of one node (http:// or https://)")
	apiKey := fs.String("api-key", "", "the API key (default: $WSEDGE_API_KEY)")
	apiConns := fs.Int("api-conns", 4, "API requests in flight at once (keep-alive connections)")
	subs := fs.Int("subs", 1000, "subscribers, spread over the nodes")
	rate := fs.Float64("rate", 2, "publishes per second")
	dur := fs.Duration("duration", 10*time.Second, "publishing time per variant")
	ch := fs.String("channel", "bench", "channel name")
	pids := fs.String("server-pids", "", "the nodes' process ids, comma-separated: server CPU per delivery (their sum)")
	variants := fs.String("variants", "api,client", "what to run, in order: api (server API publish), client (a client's publish on the first node)")
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	c, err := o.common(ctx, stderr)
	if err != nil {
		return err
	}
	cfg := bench.APIConfig{Common: c, Targets: []bench.Target{c.Target}, APIURL: *apiURL, APIKey: *apiKey,
		APIConns: *apiConns, Subs: *subs, Rate: *rate, Duration: *dur, Channel: *ch}
	if cfg.APIKey == "" {
		cfg.APIKey = os.Getenv("WSEDGE_API_KEY")
	}
	if *nodes != "" {
		for u := range strings.SplitSeq(*nodes, ",") {
			tg, err := bench.ParseTarget(ctx, strings.TrimSpace(u), o.allowRemote)
			if err != nil {
				return &usageError{"-nodes: " + err.Error()}
			}
			if o.path != "" {
				tg = tg.WithPath(o.path)
			}
			cfg.Targets = append(cfg.Targets, tg)
		}
	}
	if o.serverPID > 0 {
		cfg.ServerPIDs = append(cfg.ServerPIDs, o.serverPID)
	}
	if *pids != "" {
		for p := range strings.SplitSeq(*pids, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n <= 0 {
				return &usageError{fmt.Sprintf("-server-pids: %q is not a process id", p)}
			}
			cfg.ServerPIDs = append(cfg.ServerPIDs, n)
		}
	}
	for v := range strings.SplitSeq(*variants, ",") {
		if v != "api" && v != "client" {
			return &usageError{fmt.Sprintf("-variants: %q is not api or client", v)}
		}
		cfg.Variants = append(cfg.Variants, v)
	}
	if strings.Contains(*variants, "api") && cfg.APIKey == "" {
		return &usageError{"-api-key (or WSEDGE_API_KEY) is needed for the api variant"}
	}
	warnNoFile(stderr, *subs, limit)
	r, err := bench.APIPublish(ctx, cfg)
	if err != nil {
		return err
	}
	return o.output(stdout, "api", r, func(w io.Writer) { printAPI(w, r) }, nil)
}

func printAPI(w io.Writer, r bench.APIResult) {
	fmt.Fprintf(w, "api        %d subscribers over %d node(s), %.3g publishes/s\n", r.Subs, r.Nodes, r.Rate)
	for _, v := range r.Variants {
		fmt.Fprintf(w, "%-10s %d acked, %d published (%d refused), %d/%d delivered in %.1fs\n",
			v.Name, v.Ready, v.Published, v.Refused, v.Delivered, v.Expected, v.Seconds)
		if v.APILatency != nil {
			printLatency(w, "api call", *v.APILatency)
		}
		printLatency(w, "delivery", v.Latency)
		if v.ServerCPU > 0 {
			fmt.Fprintf(w, "server     %s CPU per delivery (all nodes, %.0f%% of a core)\n", bench.FormatValue(v.ServerCPU, "us"), v.ServerPct)
		}
		printWarnings(w, v.Warnings)
		printCauses(w, v.Causes)
	}
	if len(r.Variants) == 2 && r.Variants[1].Latency.P99 > 0 {
		a, b := r.Variants[0], r.Variants[1]
		fmt.Fprintf(w, "ratio      %s/%s delivery p50 %.2f, p99 %.2f", a.Name, b.Name,
			bench.Ratio(a.Latency.P50, b.Latency.P50), bench.Ratio(a.Latency.P99, b.Latency.P99))
		if a.ServerCPU > 0 && b.ServerCPU > 0 {
			fmt.Fprintf(w, ", server CPU per delivery %.2f", bench.Ratio(a.ServerCPU, b.ServerCPU))
		}
		fmt.Fprintln(w)
	}
}
