package main

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wsedge/wsedge/server"
)

// fakeNode records calls; its Shutdown blocks until ctx ends or release is closed.
type fakeNode struct {
	shutdowns, closes, reloads, lameducks atomic.Int32
	lameduckAt, shutdownAt                atomic.Int64 // unix nanoseconds of the first call
	release                               chan struct{}
	reloadErr                             error
}

func (f *fakeNode) LameDuck() {
	f.lameducks.Add(1)
	f.lameduckAt.CompareAndSwap(0, time.Now().UnixNano())
}

func (f *fakeNode) Shutdown(ctx context.Context) error {
	f.shutdowns.Add(1)
	f.shutdownAt.CompareAndSwap(0, time.Now().UnixNano())
	select {
	case <-f.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (f *fakeNode) Close()           { f.closes.Add(1) }
func (f *fakeNode) ReloadTLS() error { f.reloads.Add(1); return f.reloadErr }

func TestServeSignals(t *testing.T) {
	tls := server.Defaults()
	tls.TLSCert, tls.TLSKey = "c.pem", "k.pem"
	plain := server.Defaults()
	short := server.Defaults()
	short.ShutdownTimeout = 10 * time.Millisecond
	lame := server.Defaults()
	lame.LameDuck = 300 * time.Millisecond
	longLame := server.Defaults()
	longLame.LameDuck = time.Hour // only a second signal ends it
	longLameTLS := longLame
	longLameTLS.TLSCert, longLameTLS.TLSKey = "c.pem", "k.pem"

	for _, tc := range []struct {
		name      string
		opts      server.Options
		sigs      []os.Signal
		release   string // when Shutdown may finish: "now", "after" the signals, "never" (ctx only)
		reloadErr error
		code      int
		reloads   int32
		shutdowns int32
		closes    int32
		log       string
		lameducks int32
	}{
		{"term drains", plain, []os.Signal{syscall.SIGTERM}, "now", nil, exitOK, 0, 1, 0, "drained", 0},
		{"int drains", plain, []os.Signal{syscall.SIGINT}, "now", nil, exitOK, 0, 1, 0, "drained", 0},
		{"hup reloads tls", tls, []os.Signal{syscall.SIGHUP, syscall.SIGHUP, syscall.SIGTERM}, "now", nil, exitOK, 2, 1, 0, "SIGHUP: TLS certificate reloaded", 0},
		{"hup reload failure is logged", tls, []os.Signal{syscall.SIGHUP, syscall.SIGTERM}, "now", errors.New("bad pem"), exitOK, 1, 1, 0, "SIGHUP: TLS reload failed, keeping the previous certificate", 0},
		{"hup without tls", plain, []os.Signal{syscall.SIGHUP, syscall.SIGTERM}, "now", nil, exitOK, 0, 1, 0, "SIGHUP: TLS is not configured, nothing to reload", 0},
		{"second signal forces", plain, []os.Signal{syscall.SIGTERM, syscall.SIGINT}, "never", nil, exitFail, 0, 1, 1, "second stop signal: closing now", 0},
		{"hup during drain is ignored", plain, []os.Signal{syscall.SIGTERM, syscall.SIGHUP}, "after", nil, exitOK, 0, 1, 0, "drained", 0},
		{"drain timeout still exits 0", short, []os.Signal{syscall.SIGTERM}, "never", nil, exitOK, 0, 1, 0, "drain ended with force", 0},
		{"lame duck, then the drain", lame, []os.Signal{syscall.SIGTERM}, "now", nil, exitOK, 0, 1, 0, "lame duck: not ready, serving on", 1},
		{"second signal cuts the lame duck short", longLame, []os.Signal{syscall.SIGTERM, syscall.SIGINT}, "now", nil, exitOK, 0, 1, 0, "second stop signal: lame duck cut short, draining now", 1},
		{"third signal forces", longLame, []os.Signal{syscall.SIGTERM, syscall.SIGTERM, syscall.SIGTERM}, "never", nil, exitFail, 0, 1, 1, "second stop signal: closing now", 1},
		{"hup during the lame duck reloads", longLameTLS, []os.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM}, "now", nil, exitOK, 1, 1, 0, "SIGHUP: TLS certificate reloaded", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &fakeNode{release: make(chan struct{}), reloadErr: tc.reloadErr}
			if tc.release == "now" {
				close(n.release)
			}
			core, logs := observer.New(zap.DebugLevel)
			sigs := make(chan os.Signal) // unbuffered: each send waits for serve to take it
			done := make(chan int, 1)
			go func() { done <- serve(n, &tc.opts, zap.New(core), sigs) }()
			for _, s := range tc.sigs {
				select {
				case sigs <- s:
				case code := <-done:
					done <- code
				}
			}
			if tc.release == "after" {
				close(n.release)
			}
			var code int
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not return")
			}
			if code != tc.code || n.reloads.Load() != tc.reloads || n.shutdowns.Load() != tc.shutdowns || n.closes.Load() != tc.closes {
				t.Errorf("code %d reloads %d shutdowns %d closes %d; want %d %d %d %d", code,
					n.reloads.Load(), n.shutdowns.Load(), n.closes.Load(), tc.code, tc.reloads, tc.shutdowns, tc.closes)
			}
			if logs.FilterMessage(tc.log).Len() == 0 {
				t.Errorf("log lacks %q: %v", tc.log, logs.All())
			}
			if n.lameducks.Load() != tc.lameducks {
				t.Errorf("lame duck entered %d times, want %d", n.lameducks.Load(), tc.lameducks)
			}
			if tc.lameducks > 0 && tc.opts.LameDuck < time.Hour {
				// The drain waits for the lame duck to run its course.
				if d := time.Duration(n.shutdownAt.Load() - n.lameduckAt.Load()); d < tc.opts.LameDuck {
					t.Errorf("drain began %v after the lame duck, want at least %v", d, tc.opts.LameDuck)
				}
			}
		})
	}
}

func TestServeClosedSignalChannel(t *testing.T) {
	sigs := make(chan os.Signal)
	close(sigs)
	o := server.Defaults()
	if code := serve(&fakeNode{}, &o, zap.NewNop(), sigs); code != exitOK {
		t.Errorf("code %d", code)
	}
}

// authNode is a node that reloads its namespaces and keys on SIGHUP.
type authNode struct {
	fakeNode
	authReloads atomic.Int32
	authErr     error
}

func (a *authNode) ReloadAuthConfig() error { a.authReloads.Add(1); return a.authErr }

// TestServeReloadsAuth: SIGHUP reloads the namespaces and token keys of a
// node that can; a failure is logged one problem per field, and serving
// goes on.
func TestServeReloadsAuth(t *testing.T) {
	for _, tc := range []struct {
		err  error
		log  string
		want map[string]any
	}{
		{nil, "SIGHUP: namespaces and token keys reloaded", map[string]any{}},
		{errors.New("f.yaml:3: namespaces[0].subscribe: bad\n-jwt-public-key: no PEM block found"),
			"SIGHUP: configuration reload failed, keeping the previous namespaces and token keys",
			map[string]any{"problem1": "f.yaml:3: namespaces[0].subscribe: bad", "problem2": "-jwt-public-key: no PEM block found"}},
	} {
		n := &authNode{fakeNode: fakeNode{release: make(chan struct{})}, authErr: tc.err}
		close(n.release)
		core, logs := observer.New(zap.DebugLevel)
		sigs := make(chan os.Signal)
		done := make(chan int, 1)
		o := server.Defaults()
		go func() { done <- serve(n, &o, zap.New(core), sigs) }()
		sigs <- syscall.SIGHUP
		sigs <- syscall.SIGHUP
		sigs <- syscall.SIGTERM
		if code := <-done; code != exitOK || n.authReloads.Load() != 2 {
			t.Fatalf("code %d, %d reloads", code, n.authReloads.Load())
		}
		lines := logs.FilterMessage(tc.log).All()
		if len(lines) != 2 {
			t.Fatalf("log lacks %q: %v", tc.log, logs.All())
		}
		for k, v := range tc.want {
			if lines[0].ContextMap()[k] != v {
				t.Errorf("%s = %v, want %v", k, lines[0].ContextMap()[k], v)
			}
		}
	}
}

// restartNode is a node whose restart without reconnects succeeds or not.
type restartNode struct {
	fakeNode
	ok       bool
	restarts atomic.Int32
}

func (r *restartNode) Restart() bool { r.restarts.Add(1); return r.ok }

// TestServeRestartSignal: SIGUSR2 restarts a node that can (then the old
// process drains what stayed and exits 0, ignoring another SIGUSR2); a
// failed restart serves on, and the next SIGUSR2 tries again; a node that
// cannot restart logs and serves on.
func TestServeRestartSignal(t *testing.T) {
	o := server.Defaults()
	for _, tc := range []struct {
		name      string
		ok        bool
		sigs      []os.Signal
		restarts  int32
		shutdowns int32
		closes    int32
		logs      []string
	}{
		{"handed over, then drains what stayed", true, []os.Signal{syscall.SIGUSR2, syscall.SIGUSR2}, 1, 1, 0,
			[]string{"draining what stayed", "SIGUSR2 ignored: the node is draining", "drained"}},
		{"failed restarts serve on", false, []os.Signal{syscall.SIGUSR2, syscall.SIGUSR2, syscall.SIGTERM}, 2, 1, 0,
			[]string{"drained"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &restartNode{fakeNode: fakeNode{release: make(chan struct{})}, ok: tc.ok}
			core, logs := observer.New(zap.DebugLevel)
			sigs := make(chan os.Signal)
			done := make(chan int, 1)
			go func() { done <- serve(n, &o, zap.New(core), sigs) }()
			for _, s := range tc.sigs {
				sigs <- s
			}
			close(n.release)
			select {
			case code := <-done:
				if code != exitOK {
					t.Fatalf("exit %d", code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not return")
			}
			if n.restarts.Load() != tc.restarts || n.shutdowns.Load() != tc.shutdowns || n.closes.Load() != tc.closes {
				t.Errorf("restarts %d shutdowns %d closes %d", n.restarts.Load(), n.shutdowns.Load(), n.closes.Load())
			}
			for _, l := range tc.logs {
				if logs.FilterMessage(l).Len() == 0 {
					t.Errorf("log lacks %q: %v", l, logs.All())
				}
			}
		})
	}
	t.Run("a node that cannot restart", func(t *testing.T) {
		n := &fakeNode{release: make(chan struct{})}
		close(n.release)
		core, logs := observer.New(zap.DebugLevel)
		sigs := make(chan os.Signal)
		done := make(chan int, 1)
		go func() { done <- serve(n, &o, zap.New(core), sigs) }()
		sigs <- syscall.SIGUSR2
		sigs <- syscall.SIGTERM
		<-done
		if logs.FilterMessage("SIGUSR2 ignored: this node cannot restart without reconnects").Len() != 1 || n.shutdowns.Load() != 1 {
			t.Errorf("logs %v, shutdowns %d", logs.All(), n.shutdowns.Load())
		}
	})
}
