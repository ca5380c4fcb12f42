package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/wsedge/wsedge/bench"
)

// options are the flags every scenario has.
type options struct {
	url         string
	path        string
	allowRemote bool
	loops       int
	sources     int
	serverPID   int
	admin       string
	jsonOut     bool
	htmlOut     string
	quiet       bool
	perf        bool
	insecure    bool
	caFile      string
	token       tokenFlags
}

func (o *options) register(fs *flag.FlagSet, defPath string) {
	fs.StringVar(&o.url, "url", "ws://127.0.0.1:8080"+defPath, "target WebSocket URL (ws:// or wss://)")
	fs.BoolVar(&o.insecure, "insecure", false, "wss://: do not verify the server's certificate (self-signed)")
	fs.StringVar(&o.caFile, "ca", "", "wss://: verify the server's certificate against these CA certificates (PEM) instead of the system's")
	fs.StringVar(&o.path, "path", "", "WebSocket path (and query), replacing the one in -url (e.g. /ws)")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a target that is not a loopback address")
	fs.IntVar(&o.loops, "loops", 2, "client epoll loops (goroutines)")
	fs.IntVar(&o.sources, "sources", 32, "local source addresses 127.0.0.2.. to spread connections over")
	fs.IntVar(&o.serverPID, "server-pid", 0, "server process id (one): adds RSS, threads and CPU figures from /proc")
	fs.StringVar(&o.admin, "admin", "", "server admin listener host:port (goroutines, connections)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as JSON on stdout")
	fs.StringVar(&o.htmlOut, "html", "", "write an HTML report with charts to this file")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress bar (there is none anyway when stderr is not a terminal)")
	fs.BoolVar(&o.perf, "perf", false, "with -server-pid: count the server's system calls with perf stat")
	o.token.register(fs)
}

func (o *options) common(ctx context.Context, stderr io.Writer) (bench.Common, error) {
	tg, err := bench.ParseTarget(ctx, o.url, o.allowRemote)
	if err != nil {
		return bench.Common{}, &usageError{err.Error()}
	}
	if o.path != "" {
		if !strings.HasPrefix(o.path, "/") {
			return bench.Common{}, &usageError{fmt.Sprintf("-path %q must start with /", o.path)}
		}
		tg = tg.WithPath(o.path)
		o.url = tg.URL
	}
	tok, err := o.token.config()
	if err != nil {
		return bench.Common{}, &usageError{err.Error()}
	}
	c := bench.Common{Target: tg, Loops: o.loops, Sources: o.sources, ServerPID: o.serverPID, AdminAddr: o.admin, Perf: o.perf, Token: tok,
		Insecure: o.insecure}
	if o.caFile != "" {
		b, err := os.ReadFile(o.caFile)
		if err != nil {
			return bench.Common{}, &usageError{"-ca: " + err.Error()}
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(b) {
			return bench.Common{}, &usageError{"-ca " + o.caFile + ": no PEM certificate"}
		}
	}
	c.Progress = progress(o.quiet, stderr)
	return c, nil
}

// progress is the progress bar on stderr, only when a person watches it:
// with -quiet or when stderr is a file or a pipe, there is none.
func progress(quiet bool, stderr io.Writer) bench.Progress {
	if quiet || !isTerminal(stderr) {
		return nil
	}
	return &bench.Bar{W: stderr}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	limit, err := bench.RaiseNoFile()
	if err != nil {
		fmt.Fprintln(stderr, "wsbench: warning:", err)
	}
	var o options
	switch name {
	case "idle":
		o.register(fs, "/echo")
		conns := fs.Int("conns", 1000, "connections")
		rate := fs.Int("rate", 0, "connects per second (0: as fast as possible)")
		hold := fs.Duration("hold", 5*time.Second, "hold time before the RSS reading")
		subSpec := fs.String("subscribe", "", "on /ws: what each connection subscribes to before the hold: personal (personal.<n>), shared:K/M (K of M shared.<i>), comma-separated")
		seed := fs.Int64("seed", 1, "seed of the shared-channel draw")
		if err := parse(fs, args, stdout, stderr); err != nil {
			return err
		}
		sub, err := bench.ParseSubscriptions(*subSpec)
		if err != nil {
			return &usageError{err.Error()}
		}
		sub.Seed = *seed
		c, err := o.common(ctx, stderr)
		if err != nil {
			return err
		}
		warnNoFile(stderr, *conns, limit)
		r, err := bench.Idle(ctx, bench.IdleConfig{Common: c, Conns: *conns, Rate: *rate, Hold: *hold, Subscribe: sub})
		if err != nil {
			return err
		}
		err = o.output(stdout, "idle", r, func(w io.Writer) { printIdle(w, r) }, &bench.Report{Title: "wsbench idle", Idle: []bench.Named[bench.IdleResult]{{Name: o.url, Result: r}}})
		return allFailed(err, r.Opened, r.Failed)
	case "echo":
		o.register(fs, "/echo")
		conns := fs.Int("conns", 100, "connections")
		size := fs.Int("size", 64, "message size in bytes (binary >= 8, text >= 17)")
		depth := fs.Int("depth", 1, "messages in flight per connection")
		text := fs.Bool("text", false, "send text messages instead of binary")
		payload := fs.String("payload", "pattern", "message content: pattern (bytes, or x's with -text) or json (a realistic JSON text message of -size bytes)")
		compress := compressionFlags(fs)
		dur := fs.Duration("duration", 10*time.Second, "measured time")
		warm := fs.Duration("warmup", time.Second, "unmeasured time before it")
		if err := parse(fs, args, stdout, stderr); err != nil {
			return err
		}
		if *payload != "pattern" && *payload != "json" {
			return &usageError{fmt.Sprintf("-payload %q: want pattern or json", *payload)}
		}
		c, err := o.common(ctx, stderr)
		if err != nil {
			return err
		}
		c.Compression = compress()
		warnNoFile(stderr, *conns, limit)
		r, err := bench.Echo(ctx, bench.EchoConfig{Common: c, Conns: *conns, Size: *size, Depth: *depth, Text: *text, JSON: *payload == "json",
			Duration: *dur, Warmup: *warm})
		if err != nil {
			return err
		}
		err = o.output(stdout, "echo", r, func(w io.Writer) { printEcho(w, r) }, &bench.Report{Title: "wsbench echo", Echo: []bench.Named[bench.EchoResult]{{Name: o.url, Result: r}}})
		return allFailed(err, r.Opened, r.Failed)
	case "broadcast":
		o.register(fs, "/ws")
		subs := fs.Int("subs", 1000, "subscribers")
		rate := fs.Float64("rate", 10, "publishes per second")
		dur := fs.Duration("duration", 10*time.Second, "publishing time")
		ch := fs.String("channel", "bench", "channel name")
		compress := compressionFlags(fs)
		if err := parse(fs, args, stdout, stderr); err != nil {
			return err
		}
		c, err := o.common(ctx, stderr)
		if err != nil {
			return err
		}
		c.Compression = compress()
		warnNoFile(stderr, *subs, limit)
		r, err := bench.Broadcast(ctx, bench.BroadcastConfig{Common: c, Subs: *subs, Rate: *rate, Duration: *dur, Channel: *ch})
		if err != nil {
			return err
		}
		err = o.output(stdout, "broadcast", r, func(w io.Writer) { printBroadcast(w, r) }, &bench.Report{Title: "wsbench broadcast", Broadcast: []bench.Named[bench.BroadcastResult]{{Name: o.url, Result: r}}})
		return allFailed(err, r.Opened, r.Failed)
	case "api":
		return runAPI(ctx, fs, &o, args, stdout, stderr, limit)
	case "churn":
		o.register(fs, "/echo")
		cycles := fs.Int("cycles", 10000, "connect/close cycles")
		conc := fs.Int("concurrency", 100, "cycles in progress at once")
		settle := fs.Duration("settle", bench.DefaultSettle, "wait before each server reading (0: none); not counted in cycles/s")
		if err := parse(fs, args, stdout, stderr); err != nil {
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
		err = o.output(stdout, "churn", r, func(w io.Writer) { printChurn(w, r) }, nil)
		return allFailed(err, r.Cycles, r.Failed)
	case "handshake":
		o.register(fs, "/echo")
		cycles := fs.Int("cycles", 10000, "measured connect/upgrade/close cycles")
		conc := fs.Int("concurrency", 100, "cycles in progress at once")
		warm := fs.Int("warmup", 0, "unmeasured cycles first (0: a tenth of -cycles, at most 2000; -1: none)")
		rounds := fs.Int("rounds", 8, "with a token: alternating batches per variant (without, with, with, without...)")
		if err := parse(fs, args, stdout, stderr); err != nil {
			return err
		}
		c, err := o.common(ctx, stderr)
		if err != nil {
			return err
		}
		r, err := bench.Handshake(ctx, bench.HandshakeConfig{Common: c, Cycles: *cycles, Concurrency: *conc, Warmup: *warm, Rounds: *rounds})
		if err != nil {
			return err
		}
		err = o.output(stdout, "handshake", r, func(w io.Writer) { printHandshake(w, r) }, nil)
		return allFailed(err, r.Cycles, r.Failed)
	case "compare":
		return runCompare(ctx, fs, args, stdout, stderr)
	}
	return &usageError{fmt.Sprintf("unknown scenario %q\n%s", name, usage)}
}

// allFailed turns a run in which connections were tried and none opened
// into errAllFailed (exit 1), unless printing failed first.
func allFailed(err error, opened, failed int64) error {
	if err == nil && opened == 0 && failed > 0 {
		return fmt.Errorf("%w (%d)", errAllFailed, failed)
	}
	return err
}

// warnNoFile warns when n connections will not fit in RLIMIT_NOFILE.
func warnNoFile(stderr io.Writer, n int, limit uint64) {
	if limit > 0 && uint64(n)+64 > limit {
		fmt.Fprintf(stderr, "wsbench: warning: %d connections need more descriptors than RLIMIT_NOFILE %d\n", n, limit)
	}
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

// compressionFlags registers -compression and -compression-offer and
// returns the offer they give ("" for none).
func compressionFlags(fs *flag.FlagSet) func() string {
	on := fs.Bool("compression", false, "offer permessage-deflate (the server chooses its parameters); report bytes on the wire")
	offer := fs.String("compression-offer", bench.DefaultDeflateOffer, "the Sec-WebSocket-Extensions offer made with -compression")
	return func() string {
		if !*on {
			return ""
		}
		return *offer
	}
}
