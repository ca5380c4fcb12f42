package main

// Process-level tests: build the real binary once and run it.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/server"
)

const testVersion = "v9.9.9-test"

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

// binary builds wsedge (through the normal build cache) with a stamped version.
func binary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.err = err
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "wsedge-bin-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "wsedge")
		cmd := exec.Command(goTool, "build", "-ldflags", "-X main.version="+testVersion, "-o", built.path, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = errors.New(err.Error() + ": " + string(out))
		}
	})
	if built.err != nil {
		t.Fatalf("building wsedge: %v", built.err)
	}
	return built.path
}

// command runs the binary with only the given environment (nothing inherited,
// so a WSEDGE_ variable of the test's own shell cannot leak in).
func command(t *testing.T, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append([]string{}, env...)
	return cmd
}

func runBinary(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := command(t, env, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%q did not exit", args)
	}
	return cmd.ProcessState.ExitCode(), o.String(), e.String()
}

func TestBinaryHelp(t *testing.T) {
	code, out, errOut := runBinary(t, nil, "-h")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	at := 0
	for _, g := range append(groups, "Other", "Examples") {
		i := strings.Index(out[at:], "\n"+g+":\n")
		if i < 0 {
			t.Fatalf("-h lacks group %q after offset %d:\n%s", g, at, out)
		}
		at += i + 1
	}
	d := server.Defaults()
	for _, op := range options(&d) {
		line := findLine(out, "  "+strings.TrimSpace("-"+op.name+" "+op.arg)+" ")
		if line == "" || !strings.HasSuffix(line, "(default "+showDefault(op.value)+")") {
			t.Errorf("-h line for -%s: %q", op.name, line)
		}
	}
	for _, want := range []string{"WSEDGE_MAX_CONNS_PER_IP", "64KiB", "  -version ", "Usage: wsedge [flags]"} {
		if !strings.Contains(out, want) {
			t.Errorf("-h lacks %q", want)
		}
	}
}

func findLine(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func TestBinaryVersion(t *testing.T) {
	code, out, errOut := runBinary(t, nil, "-version")
	want := "wsedge " + testVersion + " (" + runtime.Version()
	if code != 0 || errOut != "" || !strings.HasPrefix(out, want) || strings.Count(out, "\n") != 1 {
		t.Fatalf("exit %d, stdout %q (want prefix %q), stderr %q", code, out, want, errOut)
	}
}

func TestBinaryBadValues(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"-max-message-size", "12XB"}, `wsedge: -max-message-size: "12XB" is not a size (use e.g. 64KiB, 1MiB or 1048576)`},
		{[]string{"WSEDGE_WRITE_QUEUE=lots"}, nil, `wsedge: WSEDGE_WRITE_QUEUE: "lots" is not a size (use e.g. 64KiB, 1MiB or 1048576)`},
		{nil, []string{"-tls-cert", "c.pem"}, `wsedge: -tls-cert given without -tls-key`},
		{nil, []string{"-idle-timeout", "5"}, `wsedge: -idle-timeout: "5" is not a duration (use e.g. 500ms, 30s, 5m or 1h30m)`},
		{nil, []string{"-bogus"}, `wsedge: flag provided but not defined: -bogus (wsedge -h lists the flags)`},
		{nil, []string{"-allowed-origins", "https://a.example/x"}, `wsedge: -allowed-origins: allowed origin "https://a.example/x": an origin has no path, query or trailing slash (want scheme://host[:port])`},
		{[]string{"WSEDGE_TRUSTED_PROXIES=10.0.0.0/8,proxy"}, nil, `wsedge: -trusted-proxies: trusted proxy "proxy": ParseAddr("proxy"): unable to parse IP (set by WSEDGE_TRUSTED_PROXIES)`},
	} {
		code, out, errOut := runBinary(t, tc.env, tc.args...)
		if code != 2 || out != "" || errOut != tc.want+"\n" {
			t.Errorf("%v %q: exit %d, stdout %q, stderr %q; want 2 and %q", tc.env, tc.args, code, out, errOut, tc.want)
		}
	}
}

func TestBinaryStartFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	code, _, errOut := runBinary(t, nil, "-addr", "127.0.0.1:0", "-admin-addr", taken.Addr().String())
	if code != 1 || !strings.Contains(errOut, "cannot start the admin listener") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// logLines collects the JSON log lines of a running process.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   []string
	added chan struct{}
}

func readLog(t *testing.T, r io.Reader) *logLines {
	l := &logLines{added: make(chan struct{}, 1)}
	go func() {
		s := bufio.NewScanner(r)
		s.Buffer(make([]byte, 64<<10), 1<<20)
		for s.Scan() {
			var m map[string]any
			json.Unmarshal(s.Bytes(), &m) // a non-JSON line stays in raw only
			l.mu.Lock()
			l.raw = append(l.raw, s.Text())
			if m != nil {
				l.lines = append(l.lines, m)
			}
			l.mu.Unlock()
			select {
			case l.added <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

// wait returns the first line whose msg is msg.
func (l *logLines) wait(t *testing.T, msg string) map[string]any {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		l.mu.Lock()
		for _, m := range l.lines {
			if m["msg"] == msg {
				l.mu.Unlock()
				return m
			}
		}
		l.mu.Unlock()
		select {
		case <-l.added:
		case <-deadline:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no log line %q in:\n%s", msg, strings.Join(l.raw, "\n"))
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// process is a running wsedge binary whose JSON log is being read.
type process struct {
	cmd    *exec.Cmd
	log    *logLines
	exited chan error
	done   bool
}

// startNode starts the binary; the test's cleanup kills it if it is still
// running.
func startNode(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	n := &process{cmd: command(t, env, args...), exited: make(chan error, 1)}
	// Through an io.Pipe, not StderrPipe: Wait then returns only after all
	// of stderr was copied, so no line is lost at exit.
	pr, pw := io.Pipe()
	n.cmd.Stderr = pw
	n.log = readLog(t, pr)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { err := n.cmd.Wait(); pw.Close(); n.exited <- err }()
	t.Cleanup(func() {
		if !n.done {
			n.cmd.Process.Kill()
			<-n.exited
		}
	})
	return n
}

// waitExit waits for the process to end and returns its Wait error.
func (n *process) waitExit(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-n.exited:
		n.done = true
		return err
	case <-time.After(within):
		t.Fatalf("no exit within %v", within)
		return nil
	}
}

func TestBinaryServeAndDrain(t *testing.T) {
	node := startNode(t, []string{"WSEDGE_SHUTDOWN_TIMEOUT=5s", "WSEDGE_LOG_LEVEL=info", "WSEDGE_SHUTDOWN_TIMOUT=1s"},
		"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0")
	cmd, log := node.cmd, node.log
	if typo := log.wait(t, "unknown environment variable ignored: no wsedge flag has this name (wsedge -h lists them)"); typo["variable"] != "WSEDGE_SHUTDOWN_TIMOUT" || typo["level"] != "warn" {
		t.Errorf("warning about the misspelt variable: %v", typo)
	}
	started := log.wait(t, "wsedge started")
	listen, _ := started["listen"].(string)
	adminAddr, _ := started["admin_listen"].(string)
	cfg, _ := started["config"].(map[string]any)
	procs, _ := started["gomaxprocs"].(float64)
	if listen == "" || adminAddr == "" || started["version"] != testVersion ||
		cfg["shutdown-timeout"] != "5s" || cfg["max-message-size"] != float64(64<<10) ||
		procs < 1 || cfg["loops"] != procs || cfg["workers"] != 4*procs {
		t.Fatalf("startup line %v", started)
	}
	if code, body := httpGet(t, "http://"+adminAddr+"/health"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("admin /health: %d %s", code, body)
	}
	if code, body := httpGet(t, "http://"+adminAddr+"/metrics"); code != 200 || !strings.Contains(body, "wsedge_connections_active") {
		t.Errorf("admin /metrics: %d, has wsedge_connections_active: %v", code, strings.Contains(body, "wsedge_connections_active"))
	}

	// A live client must see the node go away with 1012 before it exits.
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws://"+listen+"/echo", nil)
	if err != nil {
		t.Fatalf("dial /echo: %v", err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := ws.ReadMessage(); err != nil || string(p) != "hi" {
		t.Fatalf("echo: %q %v", p, err)
	}

	cmd.Process.Signal(syscall.SIGHUP)
	log.wait(t, "SIGHUP: TLS is not configured, nothing to reload")

	cmd.Process.Signal(syscall.SIGTERM)
	_, _, err = ws.ReadMessage() // gorilla answers the close frame itself
	if !websocket.IsCloseError(err, websocket.CloseServiceRestart) {
		t.Errorf("client got %v, want close 1012", err)
	}
	if err := node.waitExit(t, 15*time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
	log.wait(t, "drained")
	if m := log.wait(t, "wsedge stopped"); m["exit_code"] != float64(0) {
		t.Errorf("stop line %v", m)
	}
	log.mu.Lock()
	t.Logf("log of the run:\n%s", strings.Join(log.raw, "\n"))
	log.mu.Unlock()
}
