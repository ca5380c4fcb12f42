package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Cost is what the server spent per event (an echoed message, a delivery, a
// handshake) over a measured window. CPU figures come from /proc/PID/stat
// (10 ms ticks, so read them over windows of a second or more), context
// switches from /proc/PID/task/*/status, syscalls from `perf stat` when
// asked for (-perf).
type Cost struct {
	CPU  float64 `json:"cpu_us"`  // user + system, µs per event
	User float64 `json:"user_us"` // user space, µs per event
	Sys  float64 `json:"sys_us"`  // kernel on the server's behalf, µs per event
	// CPUPct is the server's CPU use in % of one core over the window.
	CPUPct float64 `json:"cpu_pct"`
	// CtxSwitches per event, voluntary and involuntary, all threads.
	CtxSwitches float64 `json:"ctx_switches"`
	// Syscalls per event (perf's raw_syscalls:sys_enter); 0 without -perf.
	Syscalls float64 `json:"syscalls,omitempty"`
}

// meter measures a process (the server) over a window.
type meter struct {
	pid  int
	p0   ProcSample
	ok   bool
	perf *perfStat
	err  error // why perf counts are missing, if asked for
}

// startMeter samples the server (if its pid is known) and, with perf, starts
// counting its system calls; it returns nil without a pid.
func (c *Common) startMeter(ctx context.Context) *meter {
	if c.ServerPID <= 0 {
		return nil
	}
	m := &meter{pid: c.ServerPID}
	if c.Perf {
		m.perf, m.err = startPerf(ctx, c.ServerPID)
	}
	m.p0, m.ok = c.procSample()
	return m
}

// stop ends the window and divides by events. A nil meter gives zero Cost.
func (m *meter) stop(events int64) (Cost, error) {
	if m == nil {
		return Cost{}, nil
	}
	p1, err := ReadProc(m.pid)
	var syscalls int64
	if m.perf != nil {
		syscalls, m.err = m.perf.stop()
	}
	if !m.ok || err != nil || events <= 0 || p1.CPUTicks < m.p0.CPUTicks || p1.UserTicks < m.p0.UserTicks {
		return Cost{}, m.err
	}
	per := func(d time.Duration) float64 { return float64(d) / 1e3 / float64(events) }
	c := Cost{
		CPU:  per(p1.CPU() - m.p0.CPU()),
		User: per(p1.User() - m.p0.User()),
		Sys:  per(p1.Sys() - m.p0.Sys()),
	}
	if d := p1.At.Sub(m.p0.At); d > 0 {
		c.CPUPct = 100 * float64(p1.CPU()-m.p0.CPU()) / float64(d)
	}
	if m.p0.CtxSwitches >= 0 && p1.CtxSwitches >= m.p0.CtxSwitches {
		c.CtxSwitches = float64(p1.CtxSwitches-m.p0.CtxSwitches) / float64(events)
	}
	if syscalls > 0 {
		c.Syscalls = float64(syscalls) / float64(events)
	}
	return c, m.err
}

// perfStat is a running `perf stat` attached to a process. It starts with
// its counters disabled and is driven over its control pipe, so the counted
// window is exactly the one between enable and disable (perf needs tens of
// milliseconds to attach, which would otherwise blur the window's start).
type perfStat struct {
	cmd      *exec.Cmd
	out      string
	ctl, ack *os.File
	done     chan error
}

// syscallEvent counts every system call entry.
const syscallEvent = "raw_syscalls:sys_enter"

// startPerf attaches `perf stat` to pid and enables its counters.
func startPerf(ctx context.Context, pid int) (*perfStat, error) {
	dir, err := os.MkdirTemp("", "wsbench-perf-")
	if err != nil {
		return nil, err
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ackR, ackW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		ctlR.Close()
		ctlW.Close()
		return nil, err
	}
	p := &perfStat{out: filepath.Join(dir, "perf.csv"), ctl: ctlW, ack: ackR, done: make(chan error, 1)}
	// The child's descriptors 3 and 4 are the control and ack pipes.
	p.cmd = exec.Command("perf", "stat", "-x,", "-o", p.out, "-e", syscallEvent, "-D", "-1",
		"--control", "fd:3,4", "-p", strconv.Itoa(pid))
	p.cmd.ExtraFiles = []*os.File{ctlR, ackW}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = p.cmd.Start()
	ctlR.Close()
	ackW.Close()
	if err != nil {
		p.cleanup()
		return nil, fmt.Errorf("perf: %w", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	if err := p.command(ctx, "enable"); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// command sends a control command and waits for perf's ack (3 s at most).
func (p *perfStat) command(ctx context.Context, c string) error {
	if _, err := p.ctl.WriteString(c + "\n"); err != nil {
		return fmt.Errorf("perf %s: %w", c, err)
	}
	_ = p.ack.SetReadDeadline(time.Now().Add(3 * time.Second))
	var b [16]byte
	n, err := p.ack.Read(b[:])
	if err != nil || !bytes.HasPrefix(b[:n], []byte("ack")) {
		select {
		case werr := <-p.done:
			p.done <- werr
			out, _ := os.ReadFile(p.out)
			return fmt.Errorf("perf stat exited: %v %s", werr, firstLine(string(out)))
		default:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("perf %s: no ack (%v)", c, err)
	}
	return nil
}

func (p *perfStat) cleanup() {
	p.ctl.Close()
	p.ack.Close()
	os.RemoveAll(filepath.Dir(p.out))
}

func (p *perfStat) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cleanup()
}

// stop disables the counters, ends perf (it prints its counts on SIGINT)
// and returns the system call count.
func (p *perfStat) stop() (int64, error) {
	defer p.cleanup()
	derr := p.command(context.Background(), "disable")
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	if derr != nil {
		return 0, derr
	}
	b, err := os.ReadFile(p.out)
	if err != nil {
		return 0, fmt.Errorf("perf: %w", err)
	}
	return parsePerfCount(b, syscallEvent)
}

// parsePerfCount reads an event's count from `perf stat -x,` output
// ("12345,,raw_syscalls:sys_enter,..."; "<not counted>" is 0).
func parsePerfCount(b []byte, event string) (int64, error) {
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Split(line, []byte(","))
		if len(f) < 3 || string(f[2]) != event {
			continue
		}
		if bytes.HasPrefix(f[0], []byte("<not")) {
			return 0, nil
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("perf: bad count %q for %s", f[0], event)
		}
		return n, nil
	}
	return 0, fmt.Errorf("perf: no %s count in its output", event)
}
