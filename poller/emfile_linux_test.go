package poller

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The out-of-descriptors test runs the poller in a child process (this test
// binary again), whose open-files limit it lowers and then exhausts.
const emfileChildEnv = "WSEDGE_POLLER_EMFILE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(emfileChildEnv) == "1" {
		os.Exit(emfileChild())
	}
	os.Exit(m.Run())
}

// exhaustHandler answers lines like lineHandler; the first connection it
// sees makes the process use up every descriptor it has left.
type exhaustHandler struct {
	lineHandler
	once sync.Once
	held []int
}

func (h *exhaustHandler) OnOpen(c *Conn) {
	h.once.Do(func() {
		for {
			fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return
			}
			h.held = append(h.held, fd)
		}
	})
}

func emfileChild() int {
	lim := unix.Rlimit{Cur: 256, Max: 256}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Println("setrlimit:", err)
		return 1
	}
	var acceptErrs atomic.Int64
	h := &exhaustHandler{}
	p, err := Listen("127.0.0.1:0", Config{
		Loops:          2,
		OverflowAnswer: []byte("busy\n"),
		AcceptError:    func(error) { acceptErrs.Add(1) },
	}, h)
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	p.Serve()
	fmt.Printf("ADDR %s\n", p.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() { // "stats" asks for the counts; EOF ends the child
		fmt.Printf("STATS %d %d\n", p.Overflowed(), acceptErrs.Load())
	}
	p.Stop()
	return 0
}

// cpuTicks is the user+system CPU time of process pid in clock ticks.
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

// TestOutOfDescriptors: once the process has no descriptor left, waiting
// clients get the Overflow answer (through the reserved descriptor) at once
// instead of timing out, the idle loops do not spin on the listener, and an
// established connection is served as before.
func TestOutOfDescriptors(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), emfileChildEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	out := bufio.NewReader(stdout)
	line, _ := out.ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if !ok {
		t.Fatalf("child: %q", line)
	}

	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(first)
	roundTrip := func(msg string) {
		t.Helper()
		fmt.Fprintf(first, "%s\n", msg)
		if got, err := rd.ReadString('\n'); err != nil || got != msg+"!\n" {
			t.Fatalf("established connection: %q %v", got, err)
		}
	}
	roundTrip("hello") // its OnOpen has used up the descriptors

	const late = 40
	var wg sync.WaitGroup
	answers := make(chan string, late)
	for i := 0; i < late; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				answers <- "dial: " + err.Error()
				return
			}
			defer c.Close()
			start := time.Now()
			c.SetDeadline(start.Add(5 * time.Second))
			c.Write([]byte("anyone?\n"))
			b, err := io.ReadAll(c)
			// The answer may be followed by a reset rather than a FIN: the
			// server closes the socket as soon as it wrote the answer (it has
			// no descriptor to keep it open with), so a request that arrives
			// after the close is answered with RST. The client has the
			// answer by then (Linux keeps received bytes readable after a
			// reset); that is what a user sees.
			if string(b) == "busy\n" && errors.Is(err, syscall.ECONNRESET) {
				err = nil
			}
			if d := time.Since(start); err != nil || d > time.Second {
				answers <- fmt.Sprintf("%q after %v: %v", b, d, err)
				return
			}
			answers <- string(b)
		}()
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		if a != "busy\n" {
			t.Errorf("a client while out of descriptors got %s, want the overflow answer within 1s", a)
		}
	}

	// Nothing is waiting now: the loops must be idle, not spinning on
	// the listener.
	pid := cmd.Process.Pid
	before := cpuTicks(t, pid)
	time.Sleep(time.Second)
	if used := cpuTicks(t, pid) - before; used > 10 { // ticks are 10ms: 10% of a core
		t.Errorf("the idle child used %d0ms of CPU in 1s while out of descriptors", used)
	}
	roundTrip("still there")

	fmt.Fprintln(stdin, "stats")
	line, _ = out.ReadString('\n')
	var overflowed, errs int
	if _, err := fmt.Sscanf(line, "STATS %d %d", &overflowed, &errs); err != nil || overflowed < late || errs < 1 {
		t.Fatalf("child stats %q: want >= %d overflow answers and accept errors reported", line, late)
	}
}
