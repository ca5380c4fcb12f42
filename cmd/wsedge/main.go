package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/handover"
	"github.com/wsedge/wsedge/metrics"
	"github.com/wsedge/wsedge/server"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // could not start, or a forced stop
	exitUsage = 2 // bad flag or environment value
)

// authReload re-reads the configuration (the same command line and
// environment, the -config file as it is now) on SIGHUP and swaps in its
// namespaces and token keys; other options need a restart.
type authReload struct {
	node
	srv     *server.Server
	reparse func() (server.Options, error)
}

func (a authReload) ReloadAuthConfig() error {
	o, err := a.reparse()
	if err != nil {
		return err
	}
	return a.srv.ReloadAuth(o.AuthOptions)
}

func main() {
	// First, before anything is opened: a process started by a handover
	// takes its channel to the old process (and clears the variable).
	pred, err := handover.Inherit()
	if err != nil {
		fmt.Fprintf(os.Stderr, "wsedge: handover: %v\n", err)
		os.Exit(exitFail)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR2)
	os.Exit(runWith(os.Args[1:], os.Environ(), os.Stdout, os.Stderr, sigs, pred))
}

// runWith is the whole program: parse, start (taking over from an old
// process when pred is not nil: started by its SIGUSR2), serve until a stop
// signal, drain. environ is the environment as os.Environ gives it.
func runWith(args, environ []string, stdout, stderr io.Writer, sigs <-chan os.Signal, pred *handover.Predecessor) int {
	opts, err := parseConfig(args, lookupIn(environ))
	switch {
	case errors.Is(err, errHelp):
		printUsage(stdout)
		return exitOK
	case errors.Is(err, errVersion):
		fmt.Fprintf(stdout, "wsedge %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case errors.Is(err, errCheck):
		fmt.Fprintln(stdout, "wsedge: configuration OK")
		return exitOK
	case err != nil:
		for _, line := range strings.Split(err.Error(), "\n") { // one line per problem
			fmt.Fprintf(stderr, "wsedge: %s\n", line)
		}
		return exitUsage
	}

	log, err := newLogger(&opts, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wsedge: %v\n", err)
		return exitUsage
	}
	defer log.Sync()
	for _, name := range unknownEnv(environ) {
		log.Warn("unknown environment variable ignored: no wsedge flag has this name (wsedge -h lists them)", zap.String("variable", name))
	}

	// A successor's broker subscribes nothing until COMMIT (the NATS switch).
	opts.HandoverSuccessor = pred != nil
	m := metrics.New()
	m.BuildInfo(buildVersion(), runtime.Version())
	srv, err := server.New(opts, log, m)
	if err != nil {
		log.Error("cannot create the server", zap.Error(err))
		return exitFail
	}
	ls := &listeners{srv: srv, m: m, opts: &opts, log: log}
	var started []zap.Field
	if pred != nil {
		started, err = ls.takeOver(pred)
	} else {
		started, err = ls.start()
	}
	if err != nil {
		msg := "cannot start"
		if se := (*startError)(nil); errors.As(err, &se) {
			msg, err = se.msg, se.err
		}
		log.Error(msg, zap.Error(err))
		return exitFail
	}
	var n node = srv
	if ls.api != nil {
		n = withAPI{node: srv, api: ls.api, nodeTLS: opts.TLSCert != ""}
	}
	n = authReload{node: n, srv: srv, reparse: func() (server.Options, error) { return parseConfig(args, lookupIn(environ)) }}
	n = restartable{node: n, ls: ls}
	inUse := srv.Options() // -loops 0 and -workers 0 resolved, -max-conns fitted
	log.Info("wsedge started", append(started, zap.Object("config", configFields{&inUse}))...)
	if pred == nil {
		// The unit is running (Type=notify); a successor does not say so
		// again: the old process moved MAINPID to it.
		if _, err := handover.Notify("READY=1"); err != nil {
			log.Warn("cannot notify the service manager", zap.Error(err))
		}
	}

	code := serve(n, &opts, log, sigs)
	// Backend calls are answered during the drain (they reach the
	// connections still open) and stop with it.
	ls.stop()
	log.Info("wsedge stopped", zap.Int("exit_code", code))
	return code
}
