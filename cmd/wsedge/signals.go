package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/server"
)

// adminStopTimeout bounds the wait for in-flight admin requests at exit.
const adminStopTimeout = 2 * time.Second

// node is what serve needs of *server.Server (an interface so tests can
// drive the signal handling without sockets).
type node interface {
	LameDuck()
	Shutdown(ctx context.Context) error
	Close()
	ReloadTLS() error
}

// serve waits for signals: SIGHUP reloads TLS, and the namespaces and token
// keys when the node can (authReloader); SIGUSR2 hands the node over to a
// new process of its binary (restarter), then drains what stayed and
// returns exitOK, or serves on if that failed; SIGTERM or SIGINT starts the lame
// duck (-lameduck: /ready answers 503 at once, the node serves on for that
// long; another stop signal cuts it short), then drains the node within
// -shutdown-timeout and returns exitOK; a stop signal during the drain
// closes everything at once and returns exitFail.
func serve(n node, o *server.Options, log *zap.Logger, sigs <-chan os.Signal) int {
	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			reloadTLS(n, o, log)
			reloadAuth(n, log)
		case syscall.SIGUSR2:
			r, ok := n.(restarter)
			if !ok {
				log.Warn("SIGUSR2 ignored: this node cannot restart without reconnects")
				continue
			}
			if r.Restart() {
				// What did not move (TLS connections, closing ones) would miss
				// every message published on the new process from now on: it
				// is closed with 1012 (clients reconnect to the new process).
				log.Info("draining what stayed", zap.Duration("timeout", o.HandoverTimeout), zap.Duration("spread", o.DrainSpread))
				return drainWithin(n, o.HandoverTimeout, log, sigs)
			}
		case syscall.SIGTERM, syscall.SIGINT:
			if o.LameDuck > 0 {
				sigs = lameDuck(n, o, log, sig, sigs)
			}
			log.Info("draining", zap.Stringer("signal", sig), zap.Duration("timeout", o.ShutdownTimeout),
				zap.Duration("spread", o.DrainSpread))
			return drain(n, o, log, sigs)
		}
	}
	return exitOK // sigs closed: nothing more will come
}

// lameDuck turns the node's readiness off and keeps it serving for
// -lameduck, or until another stop signal. It returns sigs, or nil once
// sigs was closed.
func lameDuck(n node, o *server.Options, log *zap.Logger, sig os.Signal, sigs <-chan os.Signal) <-chan os.Signal {
	n.LameDuck() // first: a load balancer's next probe must see it
	log.Info("lame duck: not ready, serving on", zap.Stringer("signal", sig), zap.Duration("lameduck", o.LameDuck))
	t := time.NewTimer(o.LameDuck)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return sigs
		case s, ok := <-sigs:
			switch {
			case !ok:
				sigs = nil // closed: wait for the timer alone
			case s == syscall.SIGHUP:
				reloadTLS(n, o, log)
			case s == syscall.SIGUSR2:
				log.Warn("SIGUSR2 ignored: the node is in its lame duck")
			case s == syscall.SIGTERM || s == syscall.SIGINT:
				log.Warn("second stop signal: lame duck cut short, draining now", zap.Stringer("signal", s))
				return sigs
			}
		}
	}
}

func reloadTLS(n node, o *server.Options, log *zap.Logger) {
	if o.TLSCert == "" && o.APITLSCert == "" {
		log.Info("SIGHUP: TLS is not configured, nothing to reload")
		return
	}
	if err := n.ReloadTLS(); err != nil {
		log.Error("SIGHUP: TLS reload failed, keeping the previous certificate", zap.Error(err))
		return
	}
	log.Info("SIGHUP: TLS certificate reloaded", zap.String("tls-cert", o.TLSCert), zap.String("api-tls-cert", o.APITLSCert))
}

// authReloader is a node that can re-read its configuration and swap in
// its namespaces and token keys (authReload in main.go).
type authReloader interface {
	ReloadAuthConfig() error
}

func reloadAuth(n node, log *zap.Logger) {
	r, ok := n.(authReloader)
	if !ok {
		return
	}
	if err := r.ReloadAuthConfig(); err != nil {
		fields := []zap.Field{}
		for i, line := range strings.Split(err.Error(), "\n") { // one field per problem
			fields = append(fields, zap.String("problem"+strconv.Itoa(i+1), line))
		}
		log.Error("SIGHUP: configuration reload failed, keeping the previous namespaces and token keys", fields...)
		return
	}
	log.Info("SIGHUP: namespaces and token keys reloaded")
}

func drain(n node, o *server.Options, log *zap.Logger, sigs <-chan os.Signal) int {
	return drainWithin(n, o.ShutdownTimeout, log, sigs)
}

// drainWithin is drain bounded by timeout.
func drainWithin(n node, timeout time.Duration, log *zap.Logger, sigs <-chan os.Signal) int {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Shutdown(ctx) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				// The drain ran to its deadline and the rest was forced:
				// still the orderly end the operator asked for.
				log.Warn("drain ended with force", zap.Error(err))
			} else {
				log.Info("drained")
			}
			return exitOK
		case sig, ok := <-sigs:
			if !ok {
				sigs = nil // closed: wait for the drain alone
				continue
			}
			if sig == syscall.SIGHUP {
				continue
			}
			if sig == syscall.SIGUSR2 {
				log.Warn("SIGUSR2 ignored: the node is draining")
				continue
			}
			log.Warn("second stop signal: closing now", zap.Stringer("signal", sig))
			n.Close()
			cancel()
			<-done
			return exitFail
		}
	}
}
