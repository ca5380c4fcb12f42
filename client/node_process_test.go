package client

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/freeport"
)

// A real wsedge process for the browser tests, built from ../cmd/wsedge,
// that the test can stop (gracefully or with SIGKILL) and start again on the
// same ports.

var built struct {
	once sync.Once
	path string
	err  error
}

func wsedgeBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = "/usr/local/go/bin/go" // where .ci/run puts it on PATH
		}
		dir, err := os.MkdirTemp("", "wsedge-client-test-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "wsedge")
		out, err := exec.Command(goTool, "build", "-o", built.path, "../cmd/wsedge").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build ../cmd/wsedge: %v: %s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// freePort finds a free loopback port for a process started later (and
// restarted on the same port), below the kernel's ephemeral range (package
// freeport: CI once saw "bind: address already in use" with a :0 port).
func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type wsedgeProc struct {
	t      *testing.T
	extra  []string // the test's flags, after -addr and -admin-addr
	args   []string
	addr   string // main listener, host:port
	admin  string // admin listener, host:port
	log    syncBuffer
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

func newWsedge(t *testing.T, extra ...string) *wsedgeProc {
	p := &wsedgeProc{t: t, extra: extra}
	p.pickPorts()
	t.Cleanup(func() { p.stop(syscall.SIGKILL) })
	return p
}

func (p *wsedgeProc) pickPorts() {
	p.addr = fmt.Sprintf("127.0.0.1:%d", freePort(p.t))
	p.admin = fmt.Sprintf("127.0.0.1:%d", freePort(p.t))
	p.args = append([]string{"-addr", p.addr, "-admin-addr", p.admin, "-shutdown-timeout", "3s", "-log-level", "warn"}, p.extra...)
}

// start runs the binary and waits until /health answers 200. A first start
// whose port was taken meanwhile (freePort can only make that unlikely) is
// tried again on new ports; later starts keep theirs.
func (p *wsedgeProc) start() error {
	for try := 1; ; try++ {
		err := p.startOnce()
		if err == nil || p.starts > 1 || try == 3 || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
		p.t.Logf("wsedge could not bind (%v); new ports", err)
		p.mu.Lock()
		p.starts = 0
		p.log = syncBuffer{}
		p.pickPorts()
		p.mu.Unlock()
	}
}

func (p *wsedgeProc) startOnce() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(wsedgeBinary(p.t), p.args...)
	cmd.Env = []string{} // nothing inherited: no WSEDGE_ variable of the shell leaks in
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	p.starts++
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(p.exited)
	c := &http.Client{Timeout: time.Second}
	scheme := "http://"
	if slices.Contains(p.args, "-tls-cert") { // a throwaway certificate: only its being up matters here
		scheme = "https://"
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("wsedge exited at start: %s", p.log.String())
		default:
		}
		if res, err := c.Get(scheme + p.addr + "/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("wsedge did not answer /health within 15 s")
}

// stop signals the process and waits for it to exit (SIGKILL after 10 s).
func (p *wsedgeProc) stop(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("wsedge did not exit within 10 s of %v", sig)
	}
}

// signal sends sig to the running process (SIGSTOP/SIGCONT: a node that
// hangs, then resumes).
func (p *wsedgeProc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return errors.New("wsedge is not running")
	}
	return p.cmd.Process.Signal(sig)
}

// restart stops the process (SIGTERM drains: clients get 1012; SIGKILL:
// they see the connection drop) and starts a new one on the same ports, after
// down (so clients fail a few attempts before open).
func (p *wsedgeProc) restart(sig syscall.Signal, down time.Duration) error {
	if err := p.stop(sig); err != nil {
		return err
	}
	time.Sleep(down)
	return p.start()
}
