package main

// The restart without reconnects (SIGUSR2) against the built binary, seen
// from outside: clients count what they receive and would see any close or
// reconnect.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/codec"
)

// rnode is a binary started for a handover test. Its stderr is an
// *os.File (not a pipe through a goroutine), so Wait returns when this
// process exits even though its successor inherited the same stderr.
type rnode struct {
	cmd    *exec.Cmd
	log    *logLines
	exited chan error
}

func startRestartNode(t *testing.T, bin string, env []string, args ...string) *rnode {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &rnode{cmd: exec.Command(bin, args...), exited: make(chan error, 1)}
	n.cmd.Env = env
	n.cmd.Stderr = pw
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	n.log = readLog(t, pr)
	go func() { n.exited <- n.cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			n.log.mu.Lock()
			t.Logf("log of the processes:\n%s", strings.Join(n.log.raw, "\n"))
			n.log.mu.Unlock()
		}
		// Every process of the chain: the first one, and the successors
		// that said they took over.
		for _, m := range n.log.all(func(m map[string]any) bool { return m["msg"] == "wsedge started" }) {
			if pid, ok := m["pid"].(float64); ok {
				syscall.Kill(int(pid), syscall.SIGKILL)
			}
		}
		n.cmd.Process.Kill()
		pr.Close()
	})
	return n
}

// all returns the lines for which match is true.
func (l *logLines) all(match func(map[string]any) bool) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.lines {
		if match(m) {
			out = append(out, m)
		}
	}
	return out
}

// waitFor returns the first line for which match is true.
func (l *logLines) waitFor(t *testing.T, what string, within time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(within)
	for {
		if ms := l.all(match); len(ms) > 0 {
			return ms[0]
		}
		select {
		case <-l.added:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no log line: %s, in:\n%s", what, strings.Join(l.raw, "\n"))
		}
	}
}

func msgIs(msg string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["msg"] == msg }
}

// restart sends SIGUSR2 and waits (up to wait each) for the successor's
// startup line and for the old process to exit 0; it returns that line.
func (n *rnode) restart(t *testing.T, wait time.Duration) map[string]any {
	t.Helper()
	oldPID := n.cmd.Process.Pid
	if err := n.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	succ := n.log.waitFor(t, "the successor's startup", wait, tookOverFrom(oldPID))
	select {
	case err := <-n.exited:
		if err != nil {
			t.Fatalf("old process: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("the old process did not exit")
	}
	return succ
}

// tookOverFrom matches the startup line of the successor of pid.
func tookOverFrom(pid int) func(map[string]any) bool {
	return func(m map[string]any) bool {
		return m["msg"] == "wsedge started" && m["took_over_from_pid"] == float64(pid)
	}
}

// counter is a subscriber that checks the numbered stream it receives.
type counter struct {
	c     *websocket.Conn
	local string
	mu    sync.Mutex
	got   []int
	err   error
}

func (k *counter) read(channel string) {
	for {
		_, p, err := k.c.ReadMessage()
		if err != nil {
			k.mu.Lock()
			k.err = err
			k.mu.Unlock()
			return
		}
		var m struct {
			Type, Channel string
			Data          struct{ N int }
		}
		if json.Unmarshal(p, &m) != nil || m.Type != "message" || m.Channel != channel {
			k.mu.Lock()
			k.err = fmt.Errorf("unexpected message %s", p)
			k.mu.Unlock()
			return
		}
		k.mu.Lock()
		k.got = append(k.got, m.Data.N)
		k.mu.Unlock()
	}
}

func (k *counter) state() (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.got), k.err
}

// publisher posts {"n":1}, {"n":2}, ... to channel through the server
// API, one new connection per call (so none is cut by the old process's
// listener closing: each is accepted by whichever process accepts).
type publisher struct {
	api, channel string
	first        int                // the first number (the fleet counts from 0)
	data         func(n int) string // the data of message n
	mu           sync.Mutex
	sent         int
	err          error
	stop         chan struct{}
	done         chan struct{}
}

func startPublisher(api, channel string) *publisher {
	return startPublisherWith(api, channel, 1, func(n int) string { return fmt.Sprintf(`{"n":%d}`, n) })
}

func startPublisherWith(api, channel string, first int, data func(int) string) *publisher {
	p := &publisher{api: api, channel: channel, first: first, data: data, stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(p.done)
		for n := p.first; ; n++ {
			select {
			case <-p.stop:
				return
			default:
			}
			req, _ := http.NewRequest("POST", "http://"+p.api+"/api/publish",
				strings.NewReader(fmt.Sprintf(`{"channel":%q,"data":%s}`, p.channel, p.data(n))))
			req.Header.Set("Authorization", "apikey "+binAPIKey)
			res, err := client.Do(req)
			if err == nil {
				res.Body.Close()
				if res.StatusCode != 200 {
					err = fmt.Errorf("publish %d: HTTP %d", n, res.StatusCode)
				}
			}
			p.mu.Lock()
			if err != nil {
				p.err = fmt.Errorf("at %s, message %d: %w", time.Now().UTC().Format("15:04:05.000000"), n, err)
				p.mu.Unlock()
				return
			}
			p.sent = n
			p.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return p
}

func (p *publisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

func (p *publisher) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.count() < n {
		p.mu.Lock()
		err := p.err
		p.mu.Unlock()
		if err != nil {
			t.Fatalf("publisher: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("publisher stuck at %d", p.count())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish stops the publisher and returns how many it published.
func (p *publisher) finish(t *testing.T) int {
	t.Helper()
	close(p.stop)
	<-p.done
	if p.err != nil {
		t.Fatalf("publisher: %v", p.err)
	}
	return p.sent
}

func restartEnv() []string {
	return []string{"WSEDGE_API_KEY=" + binAPIKey, "WSEDGE_LOG_LEVEL=info"}
}

// TestBinaryRestartWithoutReconnects: clients subscribed to a channel while
// a publisher sends a numbered stream through the server API; SIGUSR2; every
// client receives every message exactly once and in order on the same TCP
// connection, sees no close, the new process (another PID) serves them, and
// the old one exits 0. A client in the middle of a frame at the handover
// finishes it with the new process.
func TestBinaryRestartWithoutReconnects(t *testing.T) {
	clients := 300
	if testing.Short() {
		clients = 50
	}
	n := startRestartNode(t, binary(t), restartEnv(),
		"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-api-addr", "127.0.0.1:0", "-loops", "2",
		"-handshake-timeout", "1m") // the half-sent upgrade request below waits through the handover
	started := n.log.waitFor(t, "startup", 15*time.Second, msgIs("wsedge started"))
	ws, api, adminAddr := started["listen"].(string), started["api_listen"].(string), started["admin_listen"].(string)
	oldPID := n.cmd.Process.Pid
	if started["pid"] != float64(oldPID) {
		t.Fatalf("startup line pid %v, process %d", started["pid"], oldPID)
	}

	ks := make([]*counter, clients)
	for i := range ks {
		w := dialWS(t, ws)
		w.subscribe("news")
		w.c.SetReadDeadline(time.Time{}) // subscribe's; the end of the test bounds the reads
		ks[i] = &counter{c: w.c, local: w.c.LocalAddr().String()}
		go ks[i].read("news")
	}
	// A client that is in the middle of a frame when the handover happens.
	mid := dialWS(t, ws)
	frame := codec.AppendClientFrame(nil, codec.OpText, true, [4]byte{9, 8, 7, 6}, []byte(`{"type":"ping","id":"across"}`))
	if _, err := mid.c.UnderlyingConn().Write(frame[:9]); err != nil {
		t.Fatal(err)
	}

	// And one in the middle of its upgrade request.
	half, err := net.Dial("tcp", ws)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	upgrade := "GET /ws HTTP/1.1\r\nHost: " + ws + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(half, upgrade[:40]); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; { // until the server counts it
		if _, body := httpGet(t, "http://"+adminAddr+"/health"); strings.Contains(body, fmt.Sprintf(`"sockets":%d,`, clients+2)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the half-upgraded connection is not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}

	pub := startPublisher(api, "news")
	pub.waitFor(t, 100)
	succ := n.restart(t, 30*time.Second)
	newPID := int(succ["pid"].(float64))
	if newPID == oldPID || syscall.Kill(newPID, 0) != nil {
		t.Fatalf("successor pid %d (old %d) not running", newPID, oldPID)
	}
	handed := n.log.waitFor(t, "hand-over line", time.Second, msgIs("handed over to the new process"))
	if handed["moved"] != float64(clients+2) || handed["kept"] != float64(0) || handed["new_pid"] != float64(newPID) {
		t.Fatalf("hand-over line %v", handed)
	}
	if succ["listen"] != ws || succ["api_listen"] != api || succ["admin_listen"] != adminAddr || succ["adopted"] != float64(clients+2) {
		t.Fatalf("successor startup line %v (was listen %s api %s admin %s)", succ, ws, api, adminAddr)
	}

	// The rest of the frame, to the new process.
	if _, err := mid.c.UnderlyingConn().Write(frame[9:]); err != nil {
		t.Fatal(err)
	}
	mid.expect(`{"type":"pong","id":"across"}`)
	// The rest of the upgrade request: the new process answers it.
	if _, err := io.WriteString(half, upgrade[40:]); err != nil {
		t.Fatal(err)
	}
	half.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp := make([]byte, 12)
	if _, err := io.ReadFull(half, resp); err != nil || string(resp) != "HTTP/1.1 101" {
		t.Fatalf("upgrade finished with the new process: %q %v", resp, err)
	}

	pub.waitFor(t, pub.count()+100)
	total := pub.finish(t)
	deadline := time.Now().Add(30 * time.Second)
	for i, k := range ks {
		for {
			got, err := k.state()
			if err != nil {
				t.Fatalf("client %d: %v after %d messages", i, err, got)
			}
			if got >= total || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		k.mu.Lock()
		for j, v := range k.got {
			if v != j+1 {
				k.mu.Unlock()
				t.Fatalf("client %d: message %d is n=%d (of %d received, %d published)", i, j, v, len(k.got), total)
			}
		}
		if len(k.got) != total {
			k.mu.Unlock()
			t.Fatalf("client %d received %d of %d", i, len(k.got), total)
		}
		k.mu.Unlock()
		if k.c.LocalAddr().String() != k.local {
			t.Fatalf("client %d changed connection", i)
		}
	}
	// The new process counts every client as its own (the late upgrade too).
	if code, body := httpGet(t, "http://"+adminAddr+"/health"); code != 200 || !strings.Contains(body, fmt.Sprintf(`"connections":%d,`, clients+2)) {
		t.Fatalf("/health of the new process: %d %s", code, body)
	}
	_, metrics := httpGet(t, "http://"+adminAddr+"/metrics")
	if got := metricsText(metrics).value(`wsedge_handover_connections_total{outcome="adopted"}`); got != float64(clients+2) {
		t.Fatalf("adopted connections metric = %v", got)
	}
	t.Logf("%d clients, %d messages; paused %v, handover %v", clients, total, handed["paused"], handed["duration"])
}
