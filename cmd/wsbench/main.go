//go:build linux

// Command wsbench is wsedge's load-test harness: the idle, echo, broadcast
// and churn scenarios against any ws:// URL, and `compare`, which builds
// wsedge and the peer servers under bench/peers and runs the same scenarios
// on each, interleaved. See docs/wsbench.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `usage: wsbench <scenario> [flags]

scenarios:
  idle       ramp -conns connections and hold them
  echo       -conns connections x -size bytes x -depth in flight for -duration
  broadcast  -subs subscribers on /ws, one publisher at -rate per second
  api        -subs subscribers over the nodes, publishes through the server API at -rate, then the same through a client
  churn      -cycles connect/upgrade/close cycles in two halves, server state between (leaks)
  handshake  -cycles connect/upgrade/close cycles: handshakes/s and server CPU per handshake
  compare    build wsedge and the peers, run scenarios on each, print one table

run "wsbench <scenario> -h" for its flags
`

// Exit codes: 0 success (and -h), 1 a failed run (an error, or every
// connection failed), 2 a bad command line.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := wsbench(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a bad command line (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// errAllFailed is a run in which no connection opened (exit 1, after the
// result was printed).
var errAllFailed = errors.New("every connection failed")

// wsbench runs one command line and returns the exit code.
func wsbench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "wsbench: the scenario comes first, before flags (got %q)\n%s", args[0], usage)
		return exitUsage
	}
	err := run(ctx, args[0], args[1:], stdout, stderr)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "wsbench:", err)
		return exitUsage
	case errors.Is(err, errFlags):
		return exitUsage // the flag package printed the error and the flags
	}
	fmt.Fprintln(stderr, "wsbench:", err)
	return exitFail
}

// errFlags marks a flag parse error the flag package already printed.
var errFlags = errors.New("bad flags")

// parse parses a scenario's flags: -h prints them on stdout (exit 0), a bad
// flag prints them on stderr (exit 2), and anything left after the flags is
// an error rather than silently ignored (e.g. "-server-pid $(pidof x)" with
// two pids).
func parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if helpAsked(args) {
		fs.SetOutput(stdout)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errFlags
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("%s: unexpected argument %q after the flags (each flag takes one value)", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// helpAsked reports whether args hold a help flag (before a "--").
func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--h", "--help":
			return true
		}
	}
	return false
}
