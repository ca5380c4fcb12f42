package main

// The restart without reconnects when it cannot or must not happen: a new
// binary that exits at start, one that fails in the middle of the
// transfer; and TLS connections, which stay with the old process and are
// closed with 1012. (With -broker: restart_nats_process_test.go.)

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/testcert"
)

// install puts content at path atomically (rename), as a deploy does: the
// running process keeps its own file.
func install(t *testing.T, path string, content []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, content, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestBinaryRestartFailures: a successor that exits at start, then one that
// runs out of descriptors in the middle of the transfer: each time the old
// process logs why and serves on (clients see at most a pause, no close, no
// loss); a third SIGUSR2 with a working binary hands over.
func TestBinaryRestartFailures(t *testing.T) {
	const clients = 300 // more than a batch of descriptors (253)
	bin, real := copyBinary(t)
	dir := filepath.Dir(bin)
	install(t, filepath.Join(dir, "wsedge.real"), real)

	n := startRestartNode(t, bin, restartEnv(),
		"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-api-addr", "127.0.0.1:0", "-loops", "2")
	started := n.log.waitFor(t, "startup", 15*time.Second, msgIs("wsedge started"))
	ws, api, adminAddr := started["listen"].(string), started["api_listen"].(string), started["admin_listen"].(string)
	ks := make([]*counter, clients)
	for i := range ks {
		w := dialWS(t, ws)
		w.subscribe("news")
		w.c.SetReadDeadline(time.Time{})
		ks[i] = &counter{c: w.c, local: w.c.LocalAddr().String()}
		go ks[i].read("news")
	}
	pub := startPublisher(api, "news")
	pub.waitFor(t, 50)

	// 1. The new binary exits at once.
	install(t, bin, []byte("#!/bin/sh\necho 'broken build' >&2\nexit 3\n"))
	t.Logf("SIGUSR2 1 after message %d", pub.count())
	n.cmd.Process.Signal(syscall.SIGUSR2)
	failed := n.log.waitFor(t, "failed start", 30*time.Second, msgIs("SIGUSR2: the new process did not start, serving on"))
	if e, _ := failed["error"].(string); !strings.Contains(e, "exit status 3") {
		t.Fatalf("failure line %v", failed)
	}
	pub.waitFor(t, pub.count()+50)

	// 2. The new binary starts, then cannot receive the connections' descriptors.
	install(t, bin, []byte("#!/bin/sh\nulimit -n 64\nexec \""+filepath.Join(dir, "wsedge.real")+"\" \"$@\"\n"))
	t.Logf("SIGUSR2 2 after message %d", pub.count())
	n.cmd.Process.Signal(syscall.SIGUSR2)
	aborted := n.log.waitFor(t, "aborted handover", 30*time.Second, msgIs("SIGUSR2: handover failed, serving on"))
	// Why, in the successor's log or the old one's (whichever sees the
	// channel end first): the descriptors it could not receive.
	if len(n.log.all(func(m map[string]any) bool {
		e, _ := m["error"].(string)
		return strings.Contains(e, "descriptors were dropped")
	})) == 0 {
		t.Fatalf("abort line %v: want the successor's failure in the middle of the transfer", aborted)
	}
	pub.waitFor(t, pub.count()+50)
	_, metrics := httpGet(t, "http://"+adminAddr+"/metrics")
	m := metricsText(metrics)
	if m.value(`wsedge_handover_total{result="failed_start"}`) != 1 || m.value(`wsedge_handover_total{result="aborted"}`) != 1 {
		t.Fatalf("handover metrics after two failures:\n%s", grepLines(metrics, "wsedge_handover"))
	}
	if code, body := httpGet(t, "http://"+adminAddr+"/health"); code != 200 || !strings.Contains(body, fmt.Sprintf(`"connections":%d,`, clients)) {
		t.Fatalf("old process after the failures: %d %s (aborted: %v)", code, body, aborted)
	}

	// 3. A working binary again.
	install(t, bin, real)
	t.Logf("SIGUSR2 3 after message %d", pub.count())
	n.restart(t, 30*time.Second)
	pub.waitFor(t, pub.count()+50)
	checkStream(t, "news", ks, pub.finish(t))
}

// checkStream requires every counter to have received 1..total exactly
// once, in order, on the connection it started with; name says which.
func checkStream(t *testing.T, name string, ks []*counter, total int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i, k := range ks {
		for {
			got, err := k.state()
			if err != nil {
				t.Fatalf("%s client %d: %v after %d messages", name, i, err, got)
			}
			if got >= total || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		k.mu.Lock()
		got := append([]int(nil), k.got...)
		k.mu.Unlock()
		for j, v := range got {
			if v != j+1 {
				t.Fatalf("%s client %d: message %d is n=%d (of %d received, %d published)", name, i, j, v, len(got), total)
			}
		}
		if len(got) != total {
			t.Fatalf("%s client %d received %d of %d", name, i, len(got), total)
		}
		if k.c.LocalAddr().String() != k.local {
			t.Fatalf("%s client %d changed connection", name, i)
		}
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestBinaryRestartTLS: crypto/tls state cannot move, so a TLS connection
// stays with the old process, which closes it with 1012 after the switch
// (the client reconnects, to the new process); the listener moves.
func TestBinaryRestartTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := testcert.Write(t, dir, 1)
	n := startRestartNode(t, binary(t), restartEnv(),
		"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-tls-cert", certFile, "-tls-key", keyFile, "-drain-spread", "0")
	started := n.log.waitFor(t, "startup", 15*time.Second, msgIs("wsedge started"))
	listen := started["listen"].(string)
	d := &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("wss://"+listen+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	oldPID := n.cmd.Process.Pid
	n.cmd.Process.Signal(syscall.SIGUSR2)
	handed := n.log.waitFor(t, "hand-over", 30*time.Second, msgIs("handed over to the new process"))
	if handed["moved"] != float64(0) || handed["kept"] != float64(1) {
		t.Fatalf("hand-over line %v", handed)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1012 {
		t.Fatalf("TLS client: %v, want close 1012", err)
	}
	n.log.waitFor(t, "successor", 10*time.Second, tookOverFrom(oldPID))
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("old process did not exit")
	}
	// The reconnect reaches the new process on the same address.
	c2, _, err := d.Dial("wss://"+listen+"/ws", nil)
	if err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	c2.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","id":"1"}`))
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, p, err := c2.ReadMessage(); err != nil || string(p) != `{"type":"pong","id":"1"}` {
		t.Fatalf("new process over TLS: %q %v", p, err)
	}
	c2.Close()
	_ = io.EOF
}

// TestBinaryRestartSuccessorHangs: a new binary that never says it is
// ready is killed after -handover-timeout; the node serves on.
func TestBinaryRestartSuccessorHangs(t *testing.T) {
	bin, _ := copyBinary(t)
	n := startRestartNode(t, bin, restartEnv(), "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-handover-timeout", "1s")
	started := n.log.waitFor(t, "startup", 15*time.Second, msgIs("wsedge started"))
	w := dialWS(t, started["listen"].(string))
	w.subscribe("news")
	install(t, bin, []byte("#!/bin/sh\nexec sleep 60\n"))
	at := time.Now()
	n.cmd.Process.Signal(syscall.SIGUSR2)
	failed := n.log.waitFor(t, "failed start", 15*time.Second, msgIs("SIGUSR2: the new process did not start, serving on"))
	e, _ := failed["error"].(string)
	if !strings.Contains(e, "not ready in time") || time.Since(at) < time.Second {
		t.Fatalf("failure line %v after %v", failed, time.Since(at))
	}
	var pid int
	if _, err := fmt.Sscanf(e[strings.Index(e, "(pid ")+1:], "pid %d", &pid); err != nil || pid == 0 {
		t.Fatalf("no pid in %q", e)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("the hanging successor %d is still alive", pid)
	}
	w.idle("still served")
	t.Logf("refused after %v", time.Since(at))
}

// copyBinary installs a copy of the built binary in a directory of its own
// (a test then replaces it, as a deploy does) and returns its path and bytes.
func copyBinary(t *testing.T) (string, []byte) {
	t.Helper()
	real, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "wsedge")
	install(t, bin, real)
	return bin, real
}
