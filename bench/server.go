//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// ServerSpec says how to build and start one server under comparison.
type ServerSpec struct {
	Name string
	// Pkg is the package to build, relative to the module root.
	Pkg string
	// Args returns the command line for a listen address and an admin
	// address ("" when the server has no admin listener).
	Args func(addr, admin string) []string
	// Admin reports whether the server has an admin listener.
	Admin bool
}

// Servers are the known servers: wsedge and its peers under bench/peers.
// The function returns a fresh slice: callers may reorder it.
func Servers() []ServerSpec {
	peer := func(addr, _ string) []string { return []string{"-addr", addr, "-echo-path", "/echo"} }
	return []ServerSpec{
		{Name: "wsedge", Pkg: "./cmd/wsedge", Admin: true, Args: func(addr, admin string) []string {
			return []string{"-addr", addr, "-admin-addr", admin, "-echo-path", "/echo", "-path", "/ws",
				"-max-conns-per-ip", "0", "-conn-rate", "0", "-shutdown-timeout", "1s", "-log-level", "warn"}
		}},
		{Name: "gorilla", Pkg: "./bench/peers/gorilla", Args: peer},
		{Name: "nbio", Pkg: "./bench/peers/nbio", Args: peer},
		{Name: "gws", Pkg: "./bench/peers/gws", Args: peer},
		{Name: "gnet", Pkg: "./bench/peers/gnet", Args: peer},
	}
}

// Build compiles spec into dir and returns the binary's path.
func (s ServerSpec) Build(ctx context.Context, moduleRoot, dir string) (string, error) {
	bin := filepath.Join(dir, s.Name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, s.Pkg)
	cmd.Dir = moduleRoot
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

// Start runs bin on free loopback ports, logging to logPath, and waits until
// it accepts TCP connections (10 s at most).
func (s ServerSpec) Start(ctx context.Context, bin, logPath string) (*Running, error) {
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
	cmd := exec.Command(bin, s.Args(addr, admin)...)
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

// freePort returns a 127.0.0.1 address with a port that was just free.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// ModuleRoot finds the directory holding go.mod, from dir upwards.
func ModuleRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found (run inside the wsedge module or pass -src)")
		}
		dir = parent
	}
}
