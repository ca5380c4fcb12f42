package handover

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sys/unix"
)

// testConns is the number of client connections of the big process test:
// HANDOVER_TEST_CONNS overrides it (the open-files limit is 20,000 here;
// each server process holds one descriptor per connection, the test
// process one more).
func testConns(def int) int {
	if v, err := strconv.Atoi(os.Getenv("HANDOVER_TEST_CONNS")); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return 300
	}
	if raceOn {
		return def * 2 / 3
	}
	return def
}

// natsPublisher publishes the cluster stream N 1, N 2, … (origin 77) on t.n
// every 20 ms until stopped; stop returns the last number sent.
func natsPublisher(t *testing.T, url string) (stop func() uint64) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	var last atomic.Uint64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-quit:
				nc.Flush()
				return
			case <-tk.C:
				k := last.Load() + 1
				nc.Publish("t.n", append(clusterMsg(77, k), strconv.FormatUint(k, 10)...))
				last.Store(k)
			}
		}
	}()
	var once sync.Once
	stop = func() uint64 {
		once.Do(func() { close(quit); <-done; nc.Close() })
		return last.Load()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// fakeNotify is a stand-in for systemd's notification socket: it records
// each datagram with the sender's pid and closes the descriptors that come
// with it (which releases a barrier).
type fakeNotify struct {
	path string
	c    *net.UnixConn
	got  chan notifyMsg
}

type notifyMsg struct {
	pid   int
	state string
	fds   int
}

func newFakeNotify(t *testing.T) *fakeNotify {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := c.SyscallConn()
	raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	n := &fakeNotify{path: path, c: c, got: make(chan notifyMsg, 16)}
	go func() {
		buf, oob := make([]byte, 4096), make([]byte, 4096)
		for {
			k, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			m := notifyMsg{state: string(buf[:k])}
			msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			for i := range msgs {
				if cred, err := unix.ParseUnixCredentials(&msgs[i]); err == nil {
					m.pid = int(cred.Pid)
				}
				if fds, err := unix.ParseUnixRights(&msgs[i]); err == nil {
					m.fds += len(fds)
					closeFDs(fds)
				}
			}
			n.got <- m
		}
	}()
	t.Cleanup(func() { c.Close() })
	return n
}

// TestHandoverProcess is the whole feature seen from outside: thousands of
// clients talking to a server process (echoes with per-connection state,
// partial lines, subscriptions, a local broadcast stream, a NATS stream,
// per-connection timers, slow readers with megabytes queued) while the
// server hands everything over to a new process twice, on SIGUSR2. Every
// client keeps its TCP connection, sees no close and no error, and gets
// every message exactly once and in order; the first successor is the
// binary that replaced the file on disk; the service manager is told the
// new main PID.
func TestHandoverProcess(t *testing.T) {
	n := testConns(3000)
	ns := natsServer(t)
	notify := newFakeNotify(t)
	dir := t.TempDir()
	bin := copyBinary(t, dir, "server")
	sp := startServer(t, bin, "HANDOVER_TEST_NATS="+ns.ClientURL(), "NOTIFY_SOCKET="+notify.path, "HANDOVER_TEST_TICK=500ms")
	pid1 := sp.cmd.proc.Pid

	w := newSwarm(t, sp.addr, n, true)
	waitSwarm(t, w, "subscriptions", func() bool {
		for _, c := range w.cl {
			if c.sub && !c.gotS {
				return false
			}
		}
		return true
	})
	stopNATS := natsPublisher(t, ns.ClientURL())
	w.do(func() { w.pubOn = true })
	waitEchoesFrom(t, w, pid1)

	// Deploy: a new file replaces the binary (rename over it), then
	// SIGUSR2. The successor must be the new file.
	newBin := copyBinary(t, dir, "server.new")
	if err := os.Rename(newBin, bin); err != nil {
		t.Fatal(err)
	}
	var want unix.Stat_t
	unix.Stat(bin, &want)
	start := time.Now()
	syscall.Kill(pid1, syscall.SIGUSR2)
	// Clients arriving during the handover: accepted by the old process
	// before it stops accepting (then handed over), or waiting in the
	// listener's queue for the successor.
	late := newSwarm(t, sp.addr, 20, false)
	child := sp.expect("CHILD-START")
	if f := strings.Fields(child.rest); len(f) != 2 || f[1] != strconv.FormatUint(want.Ino, 10) {
		t.Fatalf("the successor runs inode %v, the file on disk is %d", f, want.Ino)
	}
	serving := sp.expect("SERVING")
	done := sp.expect("HANDOVER-DONE")
	pid2 := child.pid
	if serving.pid != pid2 || !strings.HasPrefix(done.rest, strconv.Itoa(pid2)+" ") {
		t.Fatalf("successor %d, serving %d, done %q", pid2, serving.pid, done.rest)
	}
	if st := <-sp.cmd.done; !st.Success() {
		t.Fatalf("the old process ended with %s", st)
	}
	t.Logf("handover 1: %d connections, %s from SIGUSR2 to the old process's exit; old process's own figure (spawn to RUNNING, µs): %s",
		n, time.Since(start).Round(time.Millisecond), done.rest)
	select {
	case m := <-notify.got:
		if m.pid != pid1 || !strings.Contains(m.state, fmt.Sprintf("MAINPID=%d", pid2)) {
			t.Fatalf("notification %+v, want MAINPID=%d from %d", m, pid2, pid1)
		}
		if b := <-notify.got; b.state != "BARRIER=1" || b.fds != 1 {
			t.Fatalf("barrier %+v", b)
		}
	case <-time.After(waitFor):
		t.Fatal("no MAINPID notification")
	}
	sp.expect("RUN-DONE")

	// Again, from the successor (a second deploy).
	time.Sleep(500 * time.Millisecond)
	syscall.Kill(pid2, syscall.SIGUSR2)
	pid3 := sp.expect("CHILD-START").pid
	sp.expect("SERVING")
	sp.expect("HANDOVER-DONE")
	if ws := reap(t, pid2); ws.ExitStatus() != 0 {
		t.Fatalf("the second old process ended with %v", ws)
	}
	sp.expect("RUN-DONE")
	t.Cleanup(func() { syscall.Kill(pid3, syscall.SIGKILL); reap(t, pid3) })
	// Every client talks to the last successor before the streams stop.
	waitEchoesFrom(t, w, pid3)

	waitSwarm(t, late, "answers to the clients that came during the handover", func() bool {
		for _, c := range late.cl {
			if c.err != "" || (!c.slow && (len(c.pids) == 0 || c.pids[len(c.pids)-1] != pid3)) {
				return false
			}
		}
		return true
	})
	late.do(func() { late.quiet = true })
	settle(t, late, 0)

	w.do(func() { w.pubOn, w.quiet = false, true })
	lastN := stopNATS()
	settle(t, w, lastN)
	w.do(func() {
		for _, c := range w.cl {
			if c.sentE > 0 && (len(c.pids) == 0 || (!c.slow && c.pids[0] != pid1) || c.pids[len(c.pids)-1] != pid3) {
				t.Errorf("client %d: echoes answered by %v, want from %d first and %d last", c.idx, c.pids, pid1, pid3)
				return
			}
		}
	})
}

func waitSwarm(t testing.TB, w *swarm, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		var ok bool
		w.do(func() { ok = cond() })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("clients: no %s within %s", what, waitFor)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits until every client has all it asked for, then checks that
// no client saw anything wrong.
func settle(t *testing.T, w *swarm, lastN uint64) {
	t.Helper()
	// Slow readers were slow for the handovers; now they catch up.
	w.do(func() { w.drain = true })
	deadline := time.Now().Add(waitFor)
	var why string
	for {
		var ok bool
		w.do(func() { ok, why = w.settled(lastN) })
		if ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var errs []string
	var bad int
	w.do(func() { errs, bad = w.report() })
	if bad > 0 {
		t.Fatalf("%d of %d clients saw a problem:\n%s", bad, len(w.cl), strings.Join(errs, "\n"))
	}
	if why != "" {
		t.Fatalf("clients did not get everything: %s", why)
	}
	var echoes, bcast, cluster, ticks, big uint64
	w.do(func() {
		for _, c := range w.cl {
			echoes += c.gotE
			bcast += c.gotB
			cluster += c.gotN
			ticks += c.gotT
			big += c.bigGot
		}
	})
	t.Logf("clients received, all in order and exactly once: %d echoes, %d broadcasts, %d cluster messages, %d timer ticks, %d big replies",
		echoes, bcast, cluster, ticks, big)
}
