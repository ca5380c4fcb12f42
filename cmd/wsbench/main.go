//go:build linux

// Command wsbench is wsedge's load-test harness: the idle, echo, broadcast
// and churn scenarios against any ws:// URL, and `compare`, which builds
// wsedge and the peer servers under bench/peers and runs the same scenarios
// on each, interleaved. See bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wsedge/wsedge/bench"
)

const usage = `usage: wsbench <scenario> [flags]

scenarios:
  idle       ramp -conns connections and hold them
  echo       -conns connections x -size bytes x -depth in flight for -duration
  broadcast  -subs subscribers on /ws, one publisher at -rate per second
  churn      -cycles connect/upgrade/close cycles, -concurrency at a time
  compare    build wsedge and the peers, run scenarios on each, print one table

run "wsbench <scenario> -h" for its flags
`

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1], os.Args[2:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(1)
	}
}

// options are the flags every scenario has.
type options struct {
	url         string
	allowRemote bool
	loops       int
	sources     int
	serverPID   int
	admin       string
	jsonOut     bool
	htmlOut     string
	quiet       bool
}

func (o *options) register(fs *flag.FlagSet, defPath string) {
	fs.StringVar(&o.url, "url", "ws://127.0.0.1:8080"+defPath, "target WebSocket URL (ws:// only)")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a target that is not a loopback address")
	fs.IntVar(&o.loops, "loops", 2, "client epoll loops (goroutines)")
	fs.IntVar(&o.sources, "sources", 32, "local source addresses 127.0.0.2.. to spread connections over")
	fs.IntVar(&o.serverPID, "server-pid", 0, "server process id: adds RSS, threads and CPU figures from /proc")
	fs.StringVar(&o.admin, "admin", "", "server admin listener host:port (goroutines, connections)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as JSON on stdout")
	fs.StringVar(&o.htmlOut, "html", "", "write an HTML report with charts to this file")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress bar")
}

func (o *options) common(ctx context.Context, stderr io.Writer) (bench.Common, error) {
	tg, err := bench.ParseTarget(ctx, o.url, o.allowRemote)
	if err != nil {
		return bench.Common{}, err
	}
	c := bench.Common{Target: tg, Loops: o.loops, Sources: o.sources, ServerPID: o.serverPID, AdminAddr: o.admin}
	if !o.quiet {
		c.Progress = &bench.Bar{W: stderr}
	}
	return c, nil
}

func run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	limit, err := bench.RaiseNoFile()
	if err != nil {
		fmt.Fprintln(stderr, "wsbench: warning:", err)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	switch name {
	case "idle":
		o.register(fs, "/echo")
		conns := fs.Int("conns", 1000, "connections")
		rate := fs.Int("rate", 0, "connects per second (0: as fast as possible)")
		hold := fs.Duration("hold", 5*time.Second, "hold time before the RSS reading")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if uint64(*conns)+64 > limit {
			fmt.Fprintf(stderr, "wsbench: warning: %d connections need more descriptors than RLIMIT_NOFILE %d\n", *conns, limit)
		}
		c, err := o.common(ctx, stderr)
		if err != nil {
			return err
		}
		r, err := bench.Idle(ctx, bench.IdleConfig{Common: c, Conns: *conns, Rate: *rate, Hold: *hold})
		if err != nil {
			return err
		}
		return o.output(stdout, "idle", r, func(w io.Writer) { printIdle(w, r) }, &bench.Report{Title: "wsbench idle", Idle: []bench.Named[bench.IdleResult]{{Name: o.url, Result: r}}})
	case "echo":
		o.register(fs, "/echo")
		conns := fs.Int("conns", 100, "connections")
		size := fs.Int("size", 64, "message size in bytes (binary >= 8, text >= 17)")
		depth := fs.Int("depth", 1, "messages in flight per connection")
		text := fs.Bool("text", false, "send text messages instead of binary")
		dur := fs.Duration("duration", 10*time.Second, "measured time")
		warm := fs.Duration("warmup", time.Second, "unmeasured time before it")
		if err := fs.Parse(args); err != nil {
			return err
		}
		c, err := o.common(ctx, stderr)
		if err != nil {
			return err
		}
		r, err := bench.Echo(ctx, bench.EchoConfig{Common: c, Conns: *conns, Size: *size, Depth: *depth, Text: *text, Duration: *dur, Warmup: *warm})
		if err != nil {
			return err
		}
		return o.output(stdout, "echo", r, func(w io.Writer) { printEcho(w, r) }, &bench.Report{Title: "wsbench echo", Echo: []bench.Named[bench.EchoResult]{{Name: o.url, Result: r}}})
	case "broadcast":
		o.register(fs, "/ws")
		subs := fs.Int("subs", 1000, "subscribers")
		rate := fs.Float64("rate", 10, "publishes per second")
		dur := fs.Duration("duration", 10*time.Second, "publishing time")
		ch := fs.String("channel", "bench", "channel name")
		if err := fs.Parse(args); err != nil {
			return err
		}
		c, err := o.common(ctx, stderr)
		if err != nil {
			return err
		}
		r, err := bench.Broadcast(ctx, bench.BroadcastConfig{Common: c, Subs: *subs, Rate: *rate, Duration: *dur, Channel: *ch})
		if err != nil {
			return err
		}
		return o.output(stdout, "broadcast", r, func(w io.Writer) { printBroadcast(w, r) }, &bench.Report{Title: "wsbench broadcast", Broadcast: []bench.Named[bench.BroadcastResult]{{Name: o.url, Result: r}}})
	case "churn":
		o.register(fs, "/echo")
		cycles := fs.Int("cycles", 10000, "connect/close cycles")
		conc := fs.Int("concurrency", 100, "cycles in progress at once")
		settle := fs.Duration("settle", 2*time.Second, "wait before each server reading")
		if err := fs.Parse(args); err != nil {
			return err
		}
		c, err := o.common(ctx, stderr)
		if err != nil {
			return err
		}
		r, err := bench.Churn(ctx, bench.ChurnConfig{Common: c, Cycles: *cycles, Concurrency: *conc, Settle: *settle})
		if err != nil {
			return err
		}
		return o.output(stdout, "churn", r, func(w io.Writer) { printChurn(w, r) }, nil)
	case "compare":
		return runCompare(ctx, fs, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown scenario %q\n%s", name, usage)
}

func (o *options) output(w io.Writer, kind string, r any, text func(io.Writer), rep *bench.Report) error {
	if o.htmlOut != "" && rep != nil {
		if err := writeHTML(o.htmlOut, rep); err != nil {
			return err
		}
	}
	if o.jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{kind: r})
	}
	text(w)
	return nil
}

func writeHTML(path string, rep *bench.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runCompare(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	src := fs.String("src", "", "module root to build from (default: found from the working directory)")
	servers := fs.String("servers", "wsedge,gorilla,nbio,gws,gnet", "servers to compare, first is the reference")
	rounds := fs.Int("rounds", 2, "interleaved rounds (A B C A B C)")
	scen := fs.String("scenarios", "idle,echo,broadcast", "scenarios: idle, echo, broadcast, churn")
	idleConns := fs.Int("idle-conns", 19000, "idle: connections (<= ~19,000 under a 20,000 open-files limit)")
	idleHold := fs.Duration("idle-hold", time.Second, "idle: hold before the RSS reading")
	echoConns := fs.String("echo-conns", "100,1000", "echo: connection counts")
	echoSizes := fs.String("echo-sizes", "64,4096", "echo: message sizes")
	echoDepth := fs.Int("echo-depth", 1, "echo: messages in flight per connection")
	echoDur := fs.Duration("echo-duration", 1500*time.Millisecond, "echo: measured time per run")
	echoWarm := fs.Duration("echo-warmup", 300*time.Millisecond, "echo: warmup per run")
	subs := fs.Int("subs", 15000, "broadcast: subscribers (wsedge only)")
	rate := fs.Float64("rate", 2, "broadcast: publishes per second (x subscribers = deliveries/s asked)")
	bdur := fs.Duration("broadcast-duration", 3*time.Second, "broadcast: publishing time")
	cycles := fs.Int("cycles", 20000, "churn: cycles")
	loops := fs.Int("loops", 2, "client epoll loops")
	sources := fs.Int("sources", 32, "local source addresses")
	jsonOut := fs.Bool("json", false, "print the result as JSON on stdout")
	htmlOut := fs.String("html", "", "write an HTML report with charts to this file")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
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
	for _, s := range bench.Servers() {
		known[s.Name] = s
	}
	var specs []bench.ServerSpec
	for _, n := range strings.Split(*servers, ",") {
		s, ok := known[strings.TrimSpace(n)]
		if !ok {
			return fmt.Errorf("unknown server %q", n)
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
	var cases []bench.Case
	for _, k := range strings.Split(*scen, ",") {
		switch strings.TrimSpace(k) {
		case "idle":
			cases = append(cases, bench.Case{Name: fmt.Sprintf("idle %d", *idleConns), Kind: "idle", Path: "/echo",
				Idle: bench.IdleConfig{Conns: *idleConns, Hold: *idleHold}})
		case "echo":
			for _, n := range cs {
				for _, s := range sz {
					cases = append(cases, bench.Case{Name: fmt.Sprintf("echo %dx%dB", n, s), Kind: "echo", Path: "/echo",
						Echo: bench.EchoConfig{Conns: n, Size: s, Depth: *echoDepth, Duration: *echoDur, Warmup: *echoWarm}})
				}
			}
		case "broadcast":
			cases = append(cases, bench.Case{Name: fmt.Sprintf("broadcast %d", *subs), Kind: "broadcast", Path: "/ws", WsedgeOnly: true,
				Broadcast: bench.BroadcastConfig{Subs: *subs, Rate: *rate, Duration: *bdur}})
		case "churn":
			cases = append(cases, bench.Case{Name: fmt.Sprintf("churn %d", *cycles), Kind: "churn", Path: "/echo",
				Churn: bench.ChurnConfig{Cycles: *cycles, Concurrency: 100}})
		case "":
		default:
			return fmt.Errorf("unknown scenario %q", k)
		}
	}
	cfg := bench.CompareConfig{ModuleRoot: root, Servers: specs, Rounds: *rounds, Cases: cases,
		Loops: *loops, Sources: *sources, Log: stderr, Ref: specs[0].Name}
	if !*quiet {
		cfg.Progress = &bench.Bar{W: stderr}
	}
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
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
