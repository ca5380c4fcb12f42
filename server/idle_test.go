package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestTenThousandIdleConnections holds 10,000 upgraded, idle connections to
// a server in its own process and checks that its goroutine count stays a
// small constant: an idle connection holds no goroutine.
func TestTenThousandIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 10,000 sockets; skipped in -short mode")
	}
	const conns = 10000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < conns+500 {
		lim.Cur = min(lim.Max, conns+1000)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	addr, stop := startChild(t)
	defer stop()

	before := childHealth(t, addr)
	clients := make([]net.Conn, conns)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	const dialers = 16
	for d := 0; d < dialers; d++ {
		wg.Add(1)
		go func(d int) {
			defer wg.Done()
			for i := d; i < conns; i += dialers {
				c, err := upgradeIdle(addr)
				if err != nil {
					errs <- fmt.Errorf("conn %d: %w", i, err)
					return
				}
				clients[i] = c
			}
		}(d)
	}
	wg.Wait()
	close(errs)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	for err := range errs {
		t.Fatal(err)
	}
	during := childHealth(t, addr)
	if during.Connections != conns {
		t.Fatalf("server reports %d connections, want %d", during.Connections, conns)
	}
	// A goroutine per connection would add 10,000; allow a small constant
	// for runtime and admin goroutines that come and go. The std backend
	// (WSEDGE_TEST_POLLER=std) promises one reader per connection, no more.
	allowed := 20
	if os.Getenv("WSEDGE_TEST_POLLER") == "std" {
		allowed += conns
	}
	if grew := during.Goroutines - before.Goroutines; grew > allowed {
		t.Fatalf("goroutines grew by %d with %d idle connections (before %d, during %d)", grew, conns, before.Goroutines, during.Goroutines)
	}
	t.Logf("goroutines: %d before, %d with %d idle connections", before.Goroutines, during.Goroutines, conns)
}

type health struct {
	Status      string `json:"status"`
	Connections int    `json:"connections"`
	Sockets     int    `json:"sockets"`
	Goroutines  int    `json:"goroutines"`
}

func childHealth(t *testing.T, addr string) health {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("health dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("health body: %v", err)
	}
	return h
}

// upgradeIdle opens and upgrades one connection, then leaves it idle.
func upgradeIdle(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, upgradeRequest("/echo", "")); err != nil {
		c.Close()
		return nil, err
	}
	// Read exactly the response head: nothing else comes on an idle
	// connection.
	var buf [512]byte
	n := 0
	for !strings.Contains(string(buf[:n]), "\r\n\r\n") {
		m, err := c.Read(buf[n:])
		if err != nil {
			c.Close()
			return nil, err
		}
		n += m
	}
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 101") {
		c.Close()
		return nil, fmt.Errorf("upgrade refused: %q", buf[:n])
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// startChild runs this test binary as a bare server process, with
// testOptions changed by overrides (JSON of Options fields, "" for none).
func startChild(t *testing.T) (addr string, stop func()) {
	addr, _, stop = startChildWith(t, "")
	return addr, stop
}

// startChildWith also returns the child's pid, so tests can watch its memory.
func startChildWith(t *testing.T, overrides string) (addr string, pid int, stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childOptsEnv+"="+overrides)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 4 || f[0] != "ADDR" || f[2] != "PID" {
		stop()
		t.Fatalf("child server did not start: %q %v", line, err)
	}
	pid, err = strconv.Atoi(f[3])
	if err != nil {
		stop()
		t.Fatalf("child pid %q: %v", f[3], err)
	}
	return f[1], pid, stop
}
