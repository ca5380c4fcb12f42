//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wsedge/wsedge/internal/freeport"
)

// ServerSpec says how to build and start one server under comparison.
type ServerSpec struct {
	Name string
	// Module is the directory of the Go module that holds Pkg, relative to
	// the main module's root: "" for the main module, "bench/peers" for the
	// peers (their libraries stay out of the product's go.mod).
	Module string
	// Pkg is the package to build, relative to Module.
	Pkg string
	// Make, when set, is a directory (relative to the main module's root)
	// whose Makefile builds the server into $(BIN) instead of go build; Env
	// lists the environment variables it needs: without them the server is
	// skipped (ErrSkipped), with a note.
	Make string
	Env  []string
	// Args returns the command line for a listen address and an admin
	// address ("" when the server has no admin listener).
	Args func(addr, admin string) []string
	// Admin reports whether the server has an admin listener.
	Admin bool
	// TLS, when set, gives the flags that make the server serve wss://
	// with a certificate and key (PEM files); nil: it cannot.
	TLS func(cert, key string) []string
	// Compression, when set, are the flags that make the server negotiate
	// permessage-deflate without context takeover; nil: it cannot.
	Compression []string
}

// PeersModule is the directory of the peer servers' own Go module, relative
// to the main module's root.
const PeersModule = "bench/peers"

// Servers are the known servers: wsedge and its peers under bench/peers.
// The function returns a fresh slice: callers may reorder it.
func Servers() []ServerSpec {
	peer := func(addr, _ string) []string { return []string{"-addr", addr, "-echo-path", "/echo"} }
	tlsFlags := func(cert, key string) []string { return []string{"-tls-cert", cert, "-tls-key", key} }
	deflate := []string{"-compression"}
	wsedge := func(backend string) func(addr, admin string) []string {
		return func(addr, admin string) []string {
			args := []string{"-addr", addr, "-admin-addr", admin, "-echo-path", "/echo", "-path", "/ws",
				"-max-conns-per-ip", "0", "-conn-rate", "0", "-shutdown-timeout", "1s", "-log-level", "warn"}
			if backend != "" {
				args = append(args, "-poller", backend)
			}
			return args
		}
	}
	return []ServerSpec{
		{Name: "wsedge", Pkg: "./cmd/wsedge", Admin: true, Args: wsedge(""), TLS: tlsFlags, Compression: []string{"-compression", "no-context-takeover"}},
		// wsedge on a given poller backend (not in the default list): -servers wsedge-epoll,wsedge-uring,uws
		{Name: "wsedge-epoll", Pkg: "./cmd/wsedge", Admin: true, Args: wsedge("epoll"), TLS: tlsFlags, Compression: []string{"-compression", "no-context-takeover"}},
		{Name: "wsedge-uring", Pkg: "./cmd/wsedge", Admin: true, Args: wsedge("uring"), TLS: tlsFlags, Compression: []string{"-compression", "no-context-takeover"}},
		// wsedge with crypto/tls as its record layer too, to compare the
		// two record layers in one run (-tls; not in the default list).
		{Name: "wsedge-stdlib", Pkg: "./cmd/wsedge", Admin: true, Args: wsedge(""), TLS: func(cert, key string) []string {
			return append(tlsFlags(cert, key), "-tls-record-layer", "stdlib")
		}},
		{Name: "gorilla", Module: PeersModule, Pkg: "./gorilla", Args: peer, TLS: tlsFlags, Compression: deflate},
		{Name: "nbio", Module: PeersModule, Pkg: "./nbio", Args: peer, TLS: tlsFlags, Compression: deflate},
		{Name: "gws", Module: PeersModule, Pkg: "./gws", Args: peer, TLS: tlsFlags, Compression: deflate},
		{Name: "gnet", Module: PeersModule, Pkg: "./gnet", Args: peer},
		{Name: "uws", Make: PeersModule + "/uws", Env: []string{"WSEDGE_UWS_DIR", "WSEDGE_USOCKETS_DIR"}, Args: peer},
	}
}

// ErrSkipped marks a server that cannot be built here by design (its
// checkouts are not configured), as opposed to a build that failed.
var ErrSkipped = errors.New("skipped")

// Source says where a server is built from, for status lines.
func (s ServerSpec) Source() string {
	if s.Make != "" {
		return s.Make + ", with make"
	}
	return filepath.Join(s.Module, s.Pkg)
}

// Build compiles spec into dir and returns the binary's path.
func (s ServerSpec) Build(ctx context.Context, moduleRoot, dir string) (string, error) {
	bin := filepath.Join(dir, s.Name)
	var cmd *exec.Cmd
	if s.Make != "" {
		var missing []string
		for _, v := range s.Env {
			if os.Getenv(v) == "" {
				missing = append(missing, v)
			}
		}
		if len(missing) > 0 {
			return "", fmt.Errorf("%w: %s not set (see docs/wsbench.md)", ErrSkipped, strings.Join(missing, ", "))
		}
		cmd = exec.CommandContext(ctx, "make", "--no-print-directory", "-C", filepath.Join(moduleRoot, s.Make), "BIN="+bin)
	} else {
		cmd = exec.CommandContext(ctx, "go", "build", "-o", bin, s.Pkg)
		cmd.Dir = filepath.Join(moduleRoot, s.Module)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", s.Name, err, out)
	}
	return bin, nil
}

// Running is a started server process.
type Running struct {
	Spec  ServerSpec
	Addr  string // listen address host:port
	Admin string // admin address, "" if none
	cmd   *exec.Cmd
	done  chan error
}

// PID is the server's process id.
func (r *Running) PID() int { return r.cmd.Process.Pid }

// Start runs bin on free loopback ports with extra flags after its own,
// logging to logPath, and waits until it accepts TCP connections (10 s at
// most). A server that exits at once because a port was taken meanwhile is
// started again on new ones (three tries).
func (s ServerSpec) Start(ctx context.Context, bin, logPath string, extra ...string) (*Running, error) {
	for try := 1; ; try++ {
		r, err := s.start(ctx, bin, logPath, extra...)
		if !errors.Is(err, errPortTaken) || try == 3 {
			return r, err
		}
	}
}

// errPortTaken: the server exited before listening and its log says a port was in use.
var errPortTaken = errors.New("a port was taken before the server bound it")

func (s ServerSpec) start(ctx context.Context, bin, logPath string, extra ...string) (*Running, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	admin := ""
	if s.Admin {
		if admin, err = freePort(); err != nil {
			return nil, err
		}
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	defer logf.Close()
	logStart, _ := logf.Seek(0, io.SeekEnd)
	cmd := exec.Command(bin, append(s.Args(addr, admin), extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	r := &Running{Spec: s, Addr: addr, Admin: admin, cmd: cmd, done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return r, nil
		}
		select {
		case err := <-r.done:
			if logSays(logPath, logStart, "address already in use") {
				return nil, fmt.Errorf("%s exited before listening (see %s): %w", s.Name, logPath, errPortTaken)
			}
			return nil, fmt.Errorf("%s exited before listening (see %s): %v", s.Name, logPath, err)
		case <-ctx.Done():
			r.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Stop()
			return nil, fmt.Errorf("%s did not listen on %s within 10s (see %s)", s.Name, addr, logPath)
		}
	}
}

// Stop sends SIGTERM, then SIGKILL after 3 s, and waits for the exit.
func (r *Running) Stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
		return
	case <-time.After(3 * time.Second):
	}
	_ = r.cmd.Process.Kill()
	<-r.done
}

// logSays reports whether the log at path, from offset on, contains s.
func logSays(path string, offset int64, s string) bool {
	b, err := os.ReadFile(path)
	if err != nil || offset > int64(len(b)) {
		return false
	}
	return strings.Contains(string(b[offset:]), s)
}

// freePort returns a 127.0.0.1 address with a port that was just free
// (below the kernel's ephemeral range: package freeport).
func freePort() (string, error) {
	port, err := freeport.Loopback()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

// MainModule is the module path of the product (go.mod's module line).
const MainModule = "github.com/wsedge/wsedge"

// ModuleRoot finds the root of the main module from dir upwards: the first
// go.mod that declares MainModule (a nested module such as bench/peers is
// passed over).
func ModuleRoot(dir string) (string, error) {
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(b) == MainModule {
			return dir, nil
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod of " + MainModule + " not found (run inside the wsedge module or pass -src)")
		}
		dir = parent
	}
}

// modulePath is the path on the module line of a go.mod file ("" if none).
func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}
