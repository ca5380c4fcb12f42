package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/admin"
	"github.com/wsedge/wsedge/api"
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
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr, sigs))
}

// run is the whole program: parse, start, serve until a stop signal, drain.
// environ is the environment as os.Environ gives it.
func run(args, environ []string, stdout, stderr io.Writer, sigs <-chan os.Signal) int {
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

	m := metrics.New()
	m.BuildInfo(buildVersion(), runtime.Version())
	srv, err := server.New(opts, log, m)
	if err != nil {
		log.Error("cannot create the server", zap.Error(err))
		return exitFail
	}
	if err := srv.Start(); err != nil {
		log.Error("cannot start the server", zap.Error(err))
		return exitFail
	}
	fields := []zap.Field{
		zap.String("version", buildVersion()),
		zap.Stringer("listen", srv.Addr()),
		zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)),
	}
	var adm *admin.Listener
	if opts.AdminAddr != "" {
		adm, err = admin.Serve(opts.AdminAddr, admin.Handler(srv, m, adminAPI(srv, &opts, log)...), log)
		if err != nil {
			log.Error("cannot start the admin listener", zap.Error(err))
			srv.Close()
			return exitFail
		}
		fields = append(fields, zap.Stringer("admin_listen", adm.Addr()))
	}
	var n node = srv
	var apiL *api.Listener
	if opts.APIAddr != "" {
		apiL, err = startAPI(srv, &opts, log)
		if err != nil {
			log.Error("cannot start the API listener", zap.Error(err))
			srv.Close()
			if adm != nil {
				adm.Stop(context.Background())
			}
			return exitFail
		}
		fields = append(fields, zap.Stringer("api_listen", apiL.Addr()))
		n = withAPI{node: srv, api: apiL, nodeTLS: opts.TLSCert != ""}
	}
	n = authReload{node: n, srv: srv, reparse: func() (server.Options, error) { return parseConfig(args, lookupIn(environ)) }}
	inUse := srv.Options() // -loops 0 and -workers 0 resolved, -max-conns fitted
	log.Info("wsedge started", append(fields, zap.Object("config", configFields{&inUse}))...)

	code := serve(n, &opts, log, sigs)
	// Backend calls are answered during the drain (they reach the
	// connections still open) and stop with it.
	stopAPI(apiL, log)
	if adm != nil {
		// The admin listener outlives the drain so /health reports it and
		// /metrics can be scraped until the end.
		ctx, cancel := context.WithTimeout(context.Background(), adminStopTimeout)
		if err := adm.Stop(ctx); err != nil {
			log.Warn("admin listener stop", zap.Error(err))
		}
		cancel()
	}
	log.Info("wsedge stopped", zap.Int("exit_code", code))
	return code
}
