package handover

// Process plumbing for the tests: the test binary re-executed as a line
// server (HANDOVER_TEST_ROLE=server), its successors (the same binary,
// started by Spawn), and the test process watching them.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	switch os.Getenv("HANDOVER_TEST_ROLE") {
	case "server":
		serverMain()
		return
	case "exe":
		exe, err := Executable()
		fmt.Println(exe, err)
		return
	}
	// Successors outlive the server processes this test starts; as a
	// subreaper the test process becomes their parent and reaps them.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	os.Exit(m.Run())
}

// serverMain is a line-server process: the first one, or a successor.
func serverMain() {
	gen, _ := strconv.Atoi(os.Getenv("HANDOVER_TEST_GEN"))
	tick, _ := time.ParseDuration(os.Getenv("HANDOVER_TEST_TICK"))
	if tick <= 0 {
		tick = 500 * time.Millisecond
	}
	fatal := func(format string, args ...any) {
		fmt.Printf("%d FATAL %s\n", os.Getpid(), fmt.Sprintf(format, args...))
		os.Exit(5)
	}
	pred, err := Inherit()
	if err != nil {
		fatal("inherit: %v", err)
	}
	dieAt := 0
	if pred != nil {
		var st unix.Stat_t
		unix.Stat("/proc/self/exe", &st)
		fmt.Printf("%d CHILD-START %d %d\n", os.Getpid(), gen, st.Ino)
		// A failure planned by the test, once (the file is removed).
		if f := os.Getenv("HANDOVER_TEST_FAIL_FILE"); f != "" {
			if b, err := os.ReadFile(f); err == nil {
				os.Remove(f)
				switch plan := strings.TrimSpace(string(b)); {
				case plan == "exit":
					fmt.Fprintln(os.Stderr, "successor: planned exit at start")
					os.Exit(3)
				case plan == "hang":
					select {}
				case strings.HasPrefix(plan, "die-after "):
					dieAt, _ = strconv.Atoi(strings.TrimPrefix(plan, "die-after "))
				}
			}
		}
	}
	s, err := newLineServer(gen, tick)
	if err != nil {
		fatal("%v", err)
	}
	natsClosed, pumped := make(chan struct{}), make(chan struct{})
	if url := os.Getenv("HANDOVER_TEST_NATS"); url != "" {
		s.nc, err = nats.Connect(url, nats.NoEcho(), nats.ClosedHandler(func(*nats.Conn) { close(natsClosed) }))
		if err != nil {
			fatal("nats: %v", err)
		}
		go s.pumpNATS(natsClosed, pumped)
	}
	if pred == nil {
		if err := s.listen(); err != nil {
			fatal("listen: %v", err)
		}
		if s.nc != nil {
			if err := s.subscribeNATS(); err != nil {
				fatal("subscribe: %v", err)
			}
		}
		s.say("ADDR %s", s.lnAddr)
	} else {
		st, err := pred.Ready(Hello{Origin: s.origin, Info: fmt.Sprintf("line server gen %d", gen)}, 30*time.Second)
		if err != nil {
			fatal("ready: %v", err)
		}
		if s.lnfd, s.lnAddr, err = inheritListener(st); err != nil {
			fatal("%v", err)
		}
		s.self = append(s.self, st.Origin)
		s.sw = NewSwitch(SwitchConfig{Self: s.self})
		a := &adopter{s: s, pred: pred, dieAt: dieAt, commit: make(chan struct{})}
		go func() {
			out, err := pred.Run(a)
			if !out.Committed {
				s.say("CHILD-ABORTED %v", err)
				os.Exit(4)
			}
			s.say("RUN-DONE orphaned=%v adopted=%d err=%v switch=%+v", out.Orphaned, out.Adopted, err, s.sw.Stats())
		}()
		go func() {
			<-a.commit
			if s.nc != nil {
				if err := s.subscribeNATS(); err != nil {
					fatal("subscribe: %v", err)
				}
				if err := pred.Subscribed(); err != nil {
					s.say("HANDOVER-WARNING subscribed: %v", err)
				}
			}
		}()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR2)
	go s.run()
	for range sigs {
		if s.handover(natsClosed, pumped) {
			os.Exit(0)
		}
	}
}

// event is one line a server process printed: "<pid> <WORD> <rest>".
type event struct {
	pid  int
	word string
	rest string
}

// serverProc is the first server process and the stream of events from it
// and its successors (which inherit its stdout).
type serverProc struct {
	t       testing.TB
	cmd     *exec2
	events  chan event
	log     string
	addr    string
	backlog []event
	allow   map[string]bool // failure words a test expects
	start   time.Time
	mu      sync.Mutex
	pids    map[int]bool // every server process seen, killed at cleanup
}

// exec2 wraps the started process (os/exec, kept small here).
type exec2 struct {
	proc *os.Process
	done chan *os.ProcessState
}

// startServer runs the test binary (at bin) as a line server.
func startServer(t testing.TB, bin string, env ...string) *serverProc {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "servers.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	env = append(os.Environ(), append([]string{"HANDOVER_TEST_ROLE=server", "HANDOVER_TEST_GEN=1"}, env...)...)
	p, err := os.StartProcess(bin, []string{bin, "-test.run=^$"}, &os.ProcAttr{Env: env, Files: []*os.File{nil, w, logf}})
	w.Close()
	logf.Close()
	if err != nil {
		t.Fatal(err)
	}
	sp := &serverProc{t: t, cmd: &exec2{proc: p, done: make(chan *os.ProcessState, 1)}, events: make(chan event, 1024), log: logPath, allow: map[string]bool{},
		start: time.Now(), pids: map[int]bool{p.Pid: true}}
	go func() {
		st, _ := p.Wait()
		sp.cmd.done <- st
	}()
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			f := strings.SplitN(sc.Text(), " ", 3)
			if len(f) < 2 {
				continue
			}
			pid, _ := strconv.Atoi(f[0])
			sp.mu.Lock()
			sp.pids[pid] = true
			sp.mu.Unlock()
			e := event{pid: pid, word: f[1]}
			if len(f) == 3 {
				e.rest = f[2]
			}
			sp.events <- e
		}
		close(sp.events)
	}()
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("HANDOVER_TEST_STACKS") != "" {
			// Go prints every goroutine's stack on SIGQUIT: where a
			// server was stuck.
			sp.mu.Lock()
			for pid := range sp.pids {
				unix.Kill(pid, syscall.SIGQUIT)
			}
			sp.mu.Unlock()
			time.Sleep(time.Second)
		}
		sp.dumpOnFailure()
		// Whatever is left of the servers (a failed test leaves them).
		sp.mu.Lock()
		defer sp.mu.Unlock()
		for pid := range sp.pids {
			if unix.Kill(pid, syscall.SIGKILL) == nil && pid != p.Pid {
				var ws unix.WaitStatus
				unix.Wait4(pid, &ws, 0, nil)
			}
		}
	})
	e := sp.expect("ADDR")
	sp.addr = e.rest
	return sp
}

func (sp *serverProc) dumpOnFailure() {
	if !sp.t.Failed() {
		return
	}
	if b, err := os.ReadFile(sp.log); err == nil && len(b) > 0 {
		if max := 8000 + 200000*len(os.Getenv("HANDOVER_TEST_STACKS")); len(b) > max {
			b = b[len(b)-max:]
		}
		sp.t.Logf("server processes' stderr (tail):\n%s", b)
	}
}

// expect returns the first event with the given word not returned yet,
// waiting for it; events may come in any order from the processes.
// FATAL, CLOSED and failures end the test.
func (sp *serverProc) expect(word string) event {
	sp.t.Helper()
	for i, e := range sp.backlog {
		if e.word == word {
			sp.backlog = append(sp.backlog[:i], sp.backlog[i+1:]...)
			return e
		}
	}
	timeout := time.After(waitFor)
	for {
		select {
		case e, ok := <-sp.events:
			if !ok {
				sp.t.Fatalf("server output ended while waiting for %s", word)
			}
			switch e.word {
			case word:
				sp.t.Logf("%6s server %d: %s %s", time.Since(sp.start).Round(time.Millisecond), e.pid, e.word, e.rest)
				return e
			case "FATAL", "CLOSED", "HANDOVER-FAILED", "CHILD-ABORTED":
				if !sp.allow[e.word] {
					sp.t.Fatalf("waiting for %s: %d %s %s", word, e.pid, e.word, e.rest)
				}
			}
			sp.t.Logf("server %d: %s %s", e.pid, e.word, e.rest)
			sp.backlog = append(sp.backlog, e)
		case <-timeout:
			sp.t.Fatalf("no %s within %s", word, waitFor)
		}
	}
}

// reap waits for a process this test's process is the parent of (the
// first server, or a successor reparented to us as subreaper).
func reap(t testing.TB, pid int) syscall.WaitStatus {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if got == pid {
			return syscall.WaitStatus(ws)
		}
		if err != nil && err != unix.EINTR {
			t.Fatalf("wait4 %d: %v", pid, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not exit", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// copyBinary copies the test binary to dir/name (mode 0755).
func copyBinary(t *testing.T, dir, name string) string {
	t.Helper()
	src, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(dir, name)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}
