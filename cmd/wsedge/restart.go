package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/admin"
	"github.com/wsedge/wsedge/api"
	"github.com/wsedge/wsedge/handover"
	"github.com/wsedge/wsedge/metrics"
	"github.com/wsedge/wsedge/server"
)

// listeners is the node's listening side: the WebSocket port (in the
// server), the admin and API listeners, and the restart without
// reconnects that hands them all to a new process (SIGUSR2).
type listeners struct {
	srv  *server.Server
	m    *metrics.Metrics
	opts *server.Options
	log  *zap.Logger
	adm  *admin.Listener
	api  *api.Listener
}

// startError is a failure to start, with the log message that names it.
type startError struct {
	msg string
	err error
}

func (e *startError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// start binds everything (a first start).
func (l *listeners) start() ([]zap.Field, error) {
	if err := l.srv.Start(); err != nil {
		return nil, &startError{"cannot start the server", err}
	}
	fields, err := l.startOthers(nil, nil)
	if err != nil {
		l.srv.Close()
		return nil, err
	}
	return fields, nil
}

// startOthers starts the admin and API listeners, on the given sockets
// when not nil (handed over), else on their addresses.
func (l *listeners) startOthers(admLn, apiLn net.Listener) ([]zap.Field, error) {
	o := l.opts
	fields := []zap.Field{
		zap.String("version", buildVersion()),
		zap.Stringer("listen", l.srv.Addr()),
		zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)),
		zap.Int("pid", os.Getpid()),
	}
	if o.AdminAddr != "" {
		h := admin.Handler(l.srv, l.m, adminAPI(l.srv, o, l.log)...)
		if admLn != nil {
			l.adm = admin.ServeListener(admLn, h, l.log)
		} else {
			adm, err := admin.Serve(o.AdminAddr, h, l.log)
			if err != nil {
				return nil, &startError{"cannot start the admin listener", err}
			}
			l.adm = adm
		}
		fields = append(fields, zap.Stringer("admin_listen", l.adm.Addr()))
	}
	if o.APIAddr != "" {
		a, err := startAPIOn(l.srv, o, l.log, apiLn)
		if err != nil {
			l.stop()
			return nil, &startError{"cannot start the API listener", err}
		}
		l.api = a
		fields = append(fields, zap.Stringer("api_listen", a.Addr()))
	}
	return fields, nil
}

// stop stops the admin and API listeners, letting requests in flight finish
// within adminStopTimeout.
func (l *listeners) stop() {
	stopAPI(l.api, l.log)
	l.api = nil
	if l.adm != nil {
		// The admin listener outlives the drain so /health reports it and
		// /metrics can be scraped until the end.
		ctx, cancel := context.WithTimeout(context.Background(), adminStopTimeout)
		if err := l.adm.Stop(ctx); err != nil {
			l.log.Warn("admin listener stop", zap.Error(err))
		}
		cancel()
		l.adm = nil
	}
}

// pause, drained and resume are the admin and API listeners' part of a
// handover (server.HandoverConfig).
func (l *listeners) pause() {
	if l.api != nil {
		l.api.Pause()
	}
	if l.adm != nil {
		l.adm.Pause()
	}
}

// drainWait bounds the wait for the HTTP requests accepted before a
// handover (a client that connected and sends nothing holds it).
const drainWait = 2 * time.Second

func (l *listeners) drained(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, drainWait)
	defer cancel()
	var errs []error
	if l.api != nil {
		errs = append(errs, l.api.Drained(ctx))
	}
	if l.adm != nil {
		errs = append(errs, l.adm.Drained(ctx))
	}
	return errors.Join(errs...)
}

func (l *listeners) resume() {
	if l.api != nil {
		l.api.Resume()
	}
	if l.adm != nil {
		l.adm.Resume()
	}
}

// handoff stops the admin and API listeners once the new process accepts
// on their sockets (their requests were answered before the switch).
func (l *listeners) handoff() {
	ctx, cancel := context.WithTimeout(context.Background(), adminStopTimeout)
	defer cancel()
	if l.api != nil {
		if err := l.api.Handoff(ctx); err != nil {
			l.log.Warn("handover: API listener stop", zap.Error(err))
		}
		l.api = nil
	}
	if l.adm != nil {
		if err := l.adm.Handoff(ctx); err != nil {
			l.log.Warn("handover: admin listener stop", zap.Error(err))
		}
		l.adm = nil
	}
}

// takeOver is the start of a process launched by an old one's SIGUSR2:
// ready (HELLO), the listeners from START, every connection adopted, then
// serving from COMMIT on. An error means the handover did not happen: the
// old process serves on, and this one exits.
func (l *listeners) takeOver(pred *handover.Predecessor) ([]zap.Field, error) {
	st, err := pred.Ready(handover.Hello{Info: "wsedge " + buildVersion(), Origin: l.srv.ClusterOrigin()}, l.opts.HandoverTimeout)
	if err != nil {
		return nil, fmt.Errorf("handover: not taken over: %w", err)
	}
	byName := make(map[string]net.Listener, len(st.Listeners))
	for _, hl := range st.Listeners {
		f := os.NewFile(uintptr(hl.FD), hl.Name)
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			l.log.Warn("handover: unusable listener", zap.String("name", hl.Name), zap.String("addr", hl.Addr), zap.Error(err))
			continue
		}
		byName[hl.Name] = ln
	}
	take := func(name string, want bool) net.Listener {
		ln := byName[name]
		if ln != nil && !want { // a listener the flags no longer ask for
			ln.Close()
			ln = nil
		}
		delete(byName, name)
		return ln
	}
	wsLn := take("ws", true)
	admLn := take("admin", l.opts.AdminAddr != "")
	apiLn := take("api", l.opts.APIAddr != "")
	for name, ln := range byName {
		l.log.Warn("handover: listener of unknown name closed", zap.String("name", name))
		ln.Close()
	}
	closeAll := func() {
		for _, ln := range []net.Listener{admLn, apiLn} {
			if ln != nil {
				ln.Close()
			}
		}
	}
	if wsLn == nil {
		closeAll()
		return nil, errors.New("handover: the old process sent no WebSocket listener")
	}
	if err := l.srv.StartInherited(wsLn); err != nil {
		closeAll()
		return nil, fmt.Errorf("handover: %w", err)
	}
	var fields []zap.Field
	out, err := pred.Run(l.srv.Adopter(pred, st, func() {
		var err error
		if fields, err = l.startOthers(admLn, apiLn); err != nil {
			// Past COMMIT there is no way back: serve WebSocket on.
			l.log.Error("handover: cannot start a listener", zap.Error(err))
		}
	}))
	if !out.Committed {
		l.srv.Close()
		closeAll()
		if err == nil {
			err = errors.New("the old process ended the handover")
		}
		return nil, fmt.Errorf("handover: abandoned: %w", err)
	}
	if err != nil {
		l.log.Warn("handover: channel ended with an error after COMMIT", zap.Error(err))
	}
	return append(fields, zap.Int("took_over_from_pid", st.PID), zap.Int("adopted", out.Adopted),
		zap.Int("refused", out.Refused), zap.Bool("orphaned", out.Orphaned)), nil
}

// restart hands the node to a new process of the binary at its path
// (SIGUSR2). It returns true once the new process serves everything that
// could move; false when the node serves on (the reason is logged).
func (l *listeners) restart() bool {
	log := l.log
	if l.opts.HandoverTimeout <= 0 {
		log.Warn("SIGUSR2 ignored: -handover-timeout 0 turns the restart without reconnects off")
		return false
	}
	if err := l.srv.CanHandOver(); err != nil {
		l.srv.CountHandover("refused")
		log.Error("SIGUSR2: restart without reconnects refused, serving on", zap.Error(err))
		return false
	}
	path, _ := handover.Executable()
	log.Info("SIGUSR2: starting the new process to hand over to", zap.String("path", path), zap.Duration("timeout", l.opts.HandoverTimeout))
	// -handover-timeout bounds the wait for the new process to be ready,
	// then, again, the handover itself.
	succ, err := handover.Spawn(context.Background(), handover.SpawnConfig{ReadyTimeout: l.opts.HandoverTimeout})
	if err != nil {
		l.srv.CountHandover("failed_start")
		log.Error("SIGUSR2: the new process did not start, serving on", zap.Error(err))
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.HandoverTimeout)
	defer cancel()
	var hls []handover.Listener
	add := func(name string, ln net.Listener) {
		fd, err := listenerFD(ln)
		if err != nil {
			log.Warn("handover: listener not handed over; the new process opens its own", zap.String("name", name), zap.Error(err))
			return
		}
		hls = append(hls, handover.Listener{Name: name, Network: "tcp", Addr: ln.Addr().String(), FD: fd})
	}
	if l.adm != nil {
		add("admin", l.adm.Net())
	}
	if l.api != nil {
		add("api", l.api.Net())
	}
	res, err := l.srv.HandOver(ctx, succ, server.HandoverConfig{
		Listeners: hls, Pause: l.pause, Drained: l.drained, Resume: l.resume, AfterCommit: l.handoff,
	})
	if err != nil {
		log.Error("SIGUSR2: handover failed, serving on", zap.Int("new_pid", succ.PID()), zap.Error(err))
		return false
	}
	log.Info("handed over to the new process", zap.Int("new_pid", succ.PID()), zap.Int("moved", res.Moved),
		zap.Int("kept", res.Kept), zap.Int("refused", res.Refused), zap.Duration("paused", res.Paused), zap.Duration("exported", res.Exported), zap.Duration("duration", res.Duration))
	return true
}

// listenerFD is ln's descriptor (still owned by ln).
func listenerFD(ln net.Listener) (int, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// restarter is a node that can hand itself over to a new process.
type restarter interface {
	Restart() bool
}

// restartable adds the restart to a node.
type restartable struct {
	node
	ls *listeners
}

func (r restartable) Restart() bool { return r.ls.restart() }

// ReloadAuthConfig keeps the wrapped node's SIGHUP reload of namespaces
// and keys reachable.
func (r restartable) ReloadAuthConfig() error {
	if a, ok := r.node.(authReloader); ok {
		return a.ReloadAuthConfig()
	}
	return nil
}
