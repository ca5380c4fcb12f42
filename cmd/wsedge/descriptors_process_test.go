package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// cpuTicks is the user+system CPU time of process pid, in clock ticks (10ms).
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// TestBinaryOutOfDescriptors runs the binary with a low open-files limit: it
// lowers -max-conns to fit and says so; clients past the limit get 503 (from
// the global cap, or through the reserved descriptor once refusals still
// being answered have used up the rest) within a second; the idle node does
// not spin; an established client keeps being served.
func TestBinaryOutOfDescriptors(t *testing.T) {
	const limit = 200
	n := &process{exited: make(chan error, 1)}
	n.cmd = exec.Command("/bin/sh", "-c", `ulimit -n `+strconv.Itoa(limit)+` && exec "$0" "$@"`,
		binary(t), "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0")
	n.cmd.Env = []string{}
	pr, pw := io.Pipe()
	n.cmd.Stderr = pw
	n.log = readLog(t, pr)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { err := n.cmd.Wait(); pw.Close(); n.exited <- err }()
	defer func() { n.cmd.Process.Kill(); <-n.exited }()

	lowered := n.log.wait(t, "max-conns lowered to fit the open-files limit (raise it with ulimit -n or LimitNOFILE=)")
	if lowered["open_files_limit"] != float64(limit) || lowered["effective"] != float64(limit-64-limit/32) {
		t.Fatalf("lowering line %v", lowered)
	}
	started := n.log.wait(t, "wsedge started")
	listen, _ := started["listen"].(string)
	adminAddr, _ := started["admin_listen"].(string)

	echo, _, err := websocket.DefaultDialer.Dial("ws://"+listen+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	worst := time.Duration(0)
	roundTrips := func() {
		t.Helper()
		for i := 0; i < 20; i++ {
			start := time.Now()
			echo.SetReadDeadline(start.Add(5 * time.Second))
			if err := echo.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
				t.Fatal(err)
			}
			if _, p, err := echo.ReadMessage(); err != nil || string(p) != "ping" {
				t.Fatalf("established client: %q %v", p, err)
			}
			worst = max(worst, time.Since(start))
		}
	}
	roundTrips()

	// Twice the limit in clients that keep their sockets open: upgrades up
	// to the cap, then refusals, each answered within a second.
	const clients = 2 * limit
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[string]int{}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status := "dial failed"
			c, err := net.Dial("tcp", listen)
			if err == nil {
				start := time.Now()
				c.SetDeadline(start.Add(5 * time.Second))
				fmt.Fprintf(c, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
					"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
				res, err := http.ReadResponse(bufio.NewReader(c), nil)
				switch {
				case err != nil:
					status = "no answer: " + err.Error()
				case time.Since(start) > time.Second:
					status = "answered after " + time.Since(start).String()
				default:
					status = strconv.Itoa(res.StatusCode)
				}
			}
			mu.Lock()
			statuses[status]++
			if c != nil {
				held = append(held, c)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(statuses) != 2 || statuses["101"] == 0 || statuses["503"] == 0 {
		t.Fatalf("%d clients against an open-files limit of %d: %v; want only 101 and 503", clients, limit, statuses)
	}

	pid := n.cmd.Process.Pid
	before := cpuTicks(t, pid)
	time.Sleep(time.Second)
	if used := cpuTicks(t, pid) - before; used > 10 {
		t.Errorf("the idle node used %d0ms of CPU in 1s at its descriptor limit", used)
	}
	roundTrips()
	if worst > 500*time.Millisecond {
		t.Errorf("established client: slowest echo round trip %v", worst)
	}
	_, metrics := httpGet(t, "http://"+adminAddr+"/metrics")
	for _, want := range []string{`wsedge_accept_errors_total{errno="EMFILE"}`, `wsedge_connections_rejected_total{reason="descriptors"}`} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + ` [1-9]`).MatchString(metrics) {
			t.Errorf("/metrics: no %s above 0", want)
		}
	}
	t.Logf("statuses %v; slowest echo %v", statuses, worst)
}
