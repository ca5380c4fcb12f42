package deploy

// The wsedge binary under test: built once with plain go build (through
// the build cache the other tests fill), without a stamped version, so its
// version comes from the build info. That the image's CGO_ENABLED=0 build
// works is checked apart (TestStaticBuild), without compiling twice.

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go" // where .ci/run puts it on PATH
}

// binary returns the path of the wsedge under test.
func binary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "wsedge-deploy-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "wsedge")
		cmd := exec.Command(goTool(), "build", "-o", built.path, "../cmd/wsedge")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = errors.New(err.Error() + ": " + string(out))
		}
	})
	if built.err != nil {
		t.Fatalf("building wsedge: %v", built.err)
	}
	return built.path
}

// runBinary runs wsedge to completion (for -h, -version) with only env.
func runBinary(t *testing.T, env []string, args ...string) (stdout string, err error) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = env
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("wsedge %q did not exit", args)
	}
	if err != nil {
		err = errors.New(err.Error() + ": " + errOut.String())
	}
	return out.String(), err
}

var (
	usageOnce sync.Once
	usageText string
	usageErr  error
)

// usage is the text of wsedge -h.
func usage(t *testing.T) string {
	t.Helper()
	usageOnce.Do(func() { usageText, usageErr = runBinary(t, nil, "-h") })
	if usageErr != nil {
		t.Fatalf("wsedge -h: %v", usageErr)
	}
	return usageText
}

var flagLine = regexp.MustCompile(`(?m)^\s+-([a-z0-9][a-z0-9-]*)\b`)

// flags is the set of flag names wsedge -h lists (without the dash).
func flags(t *testing.T) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(usage(t), -1) {
		set[m[1]] = true
	}
	if !set["addr"] || !set["admin-addr"] || len(set) < 20 {
		t.Fatalf("could not read the flags from wsedge -h (got %v)", set)
	}
	return set
}

// flagOfEnv maps WSEDGE_MAX_CONNS to max-conns (the rule wsedge -h states).
func flagOfEnv(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "WSEDGE_")
	if !ok || rest == "" {
		return "", false
	}
	return strings.ToLower(strings.ReplaceAll(rest, "_", "-")), true
}

// node is a running wsedge process.
type node struct {
	cmd    *exec.Cmd
	ws     string // host:port of -addr
	admin  string // host:port of -admin-addr
	exited chan error
	done   bool
	// lameduck is closed when the node logs that its lame duck began.
	lameduck chan struct{}
}

// startNode starts wsedge with env and args and waits for its startup log
// line; the test's cleanup stops it with SIGTERM, a second one if it
// enters a lame duck (SIGKILL after 10s).
func startNode(t *testing.T, env []string, args ...string) *node {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{cmd: cmd, exited: make(chan error, 1), lameduck: make(chan struct{})}
	started := make(chan map[string]any, 1)
	var logTail []string // for the failure message
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			mu.Lock()
			logTail = append(logTail, sc.Text())
			mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				switch m["msg"] {
				case "wsedge started":
					started <- m
				case "lame duck: not ready, serving on":
					close(n.lameduck)
				}
			}
		}
		io.Copy(io.Discard, stderr)
		n.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { n.stop(t) })
	select {
	case m := <-started:
		n.ws, _ = m["listen"].(string)
		n.admin, _ = m["admin_listen"].(string)
		return n
	case err := <-n.exited:
		n.done = true
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("wsedge %q exited at start (%v):\n%s", args, err, strings.Join(logTail, "\n"))
	case <-time.After(15 * time.Second):
		t.Fatalf("wsedge %q: no startup line within 15s", args)
	}
	return nil
}

func (n *node) stop(t *testing.T) {
	if n.done {
		return
	}
	n.done = true
	n.cmd.Process.Signal(syscall.SIGTERM)
	timeout := time.After(10 * time.Second)
	select {
	case <-n.lameduck:
		// Started with -lameduck (the packaging's settings): a second
		// SIGTERM cuts it short and drains, still an orderly exit 0.
		n.cmd.Process.Signal(syscall.SIGTERM)
	case err := <-n.exited:
		n.exited <- err
	case <-timeout:
	}
	select {
	case err := <-n.exited:
		if err != nil {
			t.Errorf("wsedge exit after SIGTERM: %v", err)
		}
	case <-timeout:
		n.cmd.Process.Kill()
		<-n.exited
		t.Errorf("wsedge did not stop within 10s of SIGTERM")
	}
}

// get fetches url and returns the status code and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, string(b)
}

// port is the port of a listen address such as ":8080" or "127.0.0.1:9090".
func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
