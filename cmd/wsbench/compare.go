package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wsedge/wsedge/bench"
)

func runCompare(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	src := fs.String("src", "", "module root to build from (default: found from the working directory)")
	servers := fs.String("servers", "wsedge,gorilla,nbio,gws,gnet,uws", "servers to compare, first is the reference (uws needs WSEDGE_UWS_DIR and WSEDGE_USOCKETS_DIR, else it is skipped)")
	rounds := fs.Int("rounds", 2, "interleaved rounds (A B C A B C)")
	scen := fs.String("scenarios", "idle,idle-ws,idle-ws-auth,echo,handshake,broadcast", "scenarios: idle, idle-ws, idle-ws-auth, echo, handshake, broadcast, churn")
	idleConns := fs.Int("idle-conns", 19000, "idle: connections (<= ~19,000 under a 20,000 open-files limit)")
	idleHold := fs.Duration("idle-hold", 5*time.Second, "idle: hold before the RSS reading (5s: past wsedge's -memory-trim-after, as a node settles after a ramp)")
	idleSub := fs.String("idle-subscribe", "personal,shared:2/100", "idle-ws, idle-ws-auth: each /ws connection's subscriptions (wsedge only; idle-ws-auth: with an HS256 token each)")
	echoConns := fs.String("echo-conns", "100,1000", "echo: connection counts")
	echoSizes := fs.String("echo-sizes", "64,4096", "echo: message sizes")
	echoDepth := fs.Int("echo-depth", 1, "echo: messages in flight per connection")
	echoPayload := fs.String("echo-payload", "pattern", "echo: message content, pattern or json (text JSON of each size)")
	echoDur := fs.Duration("echo-duration", 1500*time.Millisecond, "echo: measured time per run")
	echoWarm := fs.Duration("echo-warmup", 300*time.Millisecond, "echo: warmup per run")
	subs := fs.Int("subs", 15000, "broadcast: subscribers (wsedge only)")
	rate := fs.Float64("rate", 2, "broadcast: publishes per second (x subscribers = deliveries/s asked)")
	bdur := fs.Duration("broadcast-duration", 3*time.Second, "broadcast: publishing time")
	cycles := fs.Int("cycles", 20000, "churn: cycles")
	hsCycles := fs.Int("handshakes", 10000, "handshake: measured connect/upgrade/close cycles (after a tenth as warmup)")
	hsConc := fs.Int("handshake-concurrency", 100, "handshake: cycles in progress at once")
	perf := fs.Bool("perf", false, "count each server's system calls with perf stat (needs perf and permission to attach)")
	useTLS := fs.Bool("tls", false, "run every case over wss:// with a self-signed certificate (servers without TLS are skipped)")
	compress := fs.Bool("compression", false, "servers negotiate permessage-deflate and echo clients offer it (servers without it are skipped)")
	loops := fs.Int("loops", 2, "client epoll loops")
	sources := fs.Int("sources", 32, "local source addresses")
	jsonOut := fs.Bool("json", false, "print the result as JSON on stdout")
	htmlOut := fs.String("html", "", "write an HTML report with charts to this file")
	quiet := fs.Bool("quiet", false, "no progress bar (there is none anyway when stderr is not a terminal)")
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	root := *src
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if root, err = bench.ModuleRoot(wd); err != nil {
			return err
		}
	}
	known := map[string]bench.ServerSpec{}
	var names []string
	for _, s := range bench.Servers() {
		known[s.Name] = s
		names = append(names, s.Name)
	}
	var specs []bench.ServerSpec
	for _, n := range strings.Split(*servers, ",") {
		s, ok := known[strings.TrimSpace(n)]
		if !ok {
			return &usageError{fmt.Sprintf("unknown server %q (known: %s)", n, strings.Join(names, ", "))}
		}
		specs = append(specs, s)
	}
	cs, err := ints(*echoConns)
	if err != nil {
		return err
	}
	sz, err := ints(*echoSizes)
	if err != nil {
		return err
	}
	sub, err := bench.ParseSubscriptions(*idleSub)
	if err != nil {
		return &usageError{err.Error()}
	}
	if *echoPayload != "pattern" && *echoPayload != "json" {
		return &usageError{fmt.Sprintf("-echo-payload %q: want pattern or json", *echoPayload)}
	}
	var cases []bench.Case
	for _, k := range strings.Split(*scen, ",") {
		switch strings.TrimSpace(k) {
		case "idle":
			cases = append(cases, bench.Case{Name: fmt.Sprintf("idle %d", *idleConns), Kind: "idle", Path: "/echo",
				Idle: bench.IdleConfig{Conns: *idleConns, Hold: *idleHold}})
		case "idle-ws":
			cases = append(cases, bench.Case{Name: fmt.Sprintf("idle /ws %d %s", *idleConns, sub), Kind: "idle", Path: "/ws", WsedgeOnly: true,
				Idle: bench.IdleConfig{Conns: *idleConns, Hold: *idleHold, Subscribe: sub}})
		case "idle-ws-auth":
			cases = append(cases, bench.Case{Name: fmt.Sprintf("idle /ws %d %s, token", *idleConns, sub), Kind: "idle", Path: "/ws", WsedgeOnly: true, Auth: true,
				Idle: bench.IdleConfig{Conns: *idleConns, Hold: *idleHold, Subscribe: sub}})
		case "echo":
			for _, n := range cs {
				for _, s := range sz {
					cases = append(cases, bench.Case{Name: fmt.Sprintf("echo %dx%dB", n, s), Kind: "echo", Path: "/echo",
						Echo: bench.EchoConfig{Conns: n, Size: s, Depth: *echoDepth, Duration: *echoDur, Warmup: *echoWarm, JSON: *echoPayload == "json"}})
				}
			}
		case "broadcast":
			cases = append(cases, bench.Case{Name: fmt.Sprintf("broadcast %d", *subs), Kind: "broadcast", Path: "/ws", WsedgeOnly: true,
				Broadcast: bench.BroadcastConfig{Subs: *subs, Rate: *rate, Duration: *bdur}})
		case "churn":
			cases = append(cases, bench.Case{Name: fmt.Sprintf("churn %d", *cycles), Kind: "churn", Path: "/echo",
				Churn: bench.ChurnConfig{Cycles: *cycles, Concurrency: 100, Settle: bench.DefaultSettle}})
		case "handshake":
			cases = append(cases, bench.Case{Name: fmt.Sprintf("handshake %dx%d", *hsCycles, *hsConc), Kind: "handshake", Path: "/echo",
				Handshake: bench.HandshakeConfig{Cycles: *hsCycles, Concurrency: *hsConc}})
		case "":
		default:
			return &usageError{fmt.Sprintf("unknown scenario %q", k)}
		}
	}
	cfg := bench.CompareConfig{ModuleRoot: root, Servers: specs, Rounds: *rounds, Cases: cases,
		Loops: *loops, Sources: *sources, Log: stderr, Ref: specs[0].Name, Progress: progress(*quiet, stderr), Perf: *perf,
		TLS: *useTLS, Compression: *compress}
	res, err := bench.Compare(ctx, cfg)
	if res == nil {
		return err
	}
	if *htmlOut != "" {
		if err := writeHTML(*htmlOut, res.Report()); err != nil {
			return err
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"compare": res, "table": res.Table()}); err != nil {
			return err
		}
	} else if werr := res.WriteTable(stdout); werr != nil {
		return werr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, &usageError{fmt.Sprintf("bad number %q", f)}
		}
		out = append(out, n)
	}
	return out, nil
}
