//go:build linux

package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat; it is
// 100 on every Linux architecture Go supports (the kernel exports it fixed).
const clockTicks = 100

// ProcSample is a snapshot of a process from /proc.
type ProcSample struct {
	At        time.Time `json:"-"`
	CPUTicks  uint64    `json:"cpu_ticks"`  // utime+stime, in 1/100 s
	UserTicks uint64    `json:"user_ticks"` // utime (stime = CPUTicks - UserTicks)
	RSS       int64     `json:"rss_bytes"`  // VmRSS
	HWM       int64     `json:"hwm_bytes"`  // VmHWM: peak RSS since start
	Threads   int       `json:"threads"`
	FDs       int       `json:"fds"` // open descriptors (-1 when unreadable)
	// CtxSwitches sums voluntary and involuntary context switches over the
	// process's threads (-1 when unreadable).
	CtxSwitches int64 `json:"ctx_switches"`
}

// CPU is the process CPU time in the sample (user + system).
func (p ProcSample) CPU() time.Duration { return ticks(p.CPUTicks) }

// User is the process CPU time spent in user space.
func (p ProcSample) User() time.Duration { return ticks(p.UserTicks) }

// Sys is the process CPU time spent in the kernel on its behalf.
func (p ProcSample) Sys() time.Duration { return ticks(p.CPUTicks - p.UserTicks) }

func ticks(n uint64) time.Duration { return time.Duration(n) * (time.Second / clockTicks) }

// ReadProc samples process pid ("self" style pids are not accepted: pass
// os.Getpid()).
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now(), FDs: -1, CtxSwitches: -1}
	base := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(base + "/stat")
	if err != nil {
		return s, fmt.Errorf("read proc stat: %w", err)
	}
	var sys uint64
	if s.UserTicks, sys, err = parseStatCPU(stat); err != nil {
		return s, fmt.Errorf("pid %d: %w", pid, err)
	}
	s.CPUTicks = s.UserTicks + sys
	status, err := os.ReadFile(base + "/status")
	if err != nil {
		return s, fmt.Errorf("read proc status: %w", err)
	}
	if s.RSS, s.HWM, s.Threads, err = parseStatus(status); err != nil {
		return s, fmt.Errorf("pid %d: %w", pid, err)
	}
	if d, err := os.ReadDir(base + "/fd"); err == nil {
		s.FDs = len(d)
	}
	s.CtxSwitches = ctxSwitches(base)
	return s, nil
}

// ctxSwitches sums the context switches of every thread of the process
// under base (/proc/PID); -1 when they cannot be read. /proc/PID/status
// alone counts only the main thread.
func ctxSwitches(base string) int64 {
	tasks, err := os.ReadDir(base + "/task")
	if err != nil {
		return -1
	}
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(base + "/task/" + t.Name() + "/status")
		if err != nil {
			continue // the thread exited meanwhile
		}
		n += statusCount(b, "voluntary_ctxt_switches") + statusCount(b, "nonvoluntary_ctxt_switches")
	}
	return n
}

// statusCount reads a "key:\tN" line of a status file (0 when absent).
func statusCount(b []byte, key string) int64 {
	i := bytes.Index(b, []byte("\n"+key+":"))
	if i < 0 {
		return 0
	}
	v := b[i+len(key)+2:]
	if j := bytes.IndexByte(v, '\n'); j >= 0 {
		v = v[:j]
	}
	n, _ := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
	return n
}

// parseStatCPU returns utime and stime (fields 14 and 15) of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so fields are counted after the last ')'.
func parseStatCPU(b []byte) (user, sys uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("proc stat: no command field")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("proc stat: %d fields after command, want >= 13", len(f))
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil || ut+st < ut {
		return 0, 0, fmt.Errorf("proc stat: bad utime/stime %q %q", f[11], f[12])
	}
	return ut, st, nil
}

// parseStatus returns VmRSS and VmHWM (bytes) and Threads of a
// /proc/PID/status file; VmHWM is optional (0 when absent).
func parseStatus(b []byte) (rss, hwm int64, threads int, err error) {
	var haveRSS, haveThreads bool
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(k) {
		case "VmRSS", "VmHWM":
			f := bytes.Fields(v)
			if len(f) != 2 || string(f[1]) != "kB" {
				return 0, 0, 0, fmt.Errorf("proc status: bad %s %q", k, v)
			}
			kb, err := strconv.ParseInt(string(f[0]), 10, 64)
			if err != nil || kb < 0 {
				return 0, 0, 0, fmt.Errorf("proc status: bad %s %q", k, v)
			}
			if string(k) == "VmHWM" {
				hwm = kb * 1024
			} else {
				rss, haveRSS = kb*1024, true
			}
		case "Threads":
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return 0, 0, 0, fmt.Errorf("proc status: bad Threads %q", v)
			}
			threads, haveThreads = n, true
		}
	}
	if !haveRSS || !haveThreads {
		return 0, 0, 0, fmt.Errorf("proc status: VmRSS or Threads missing")
	}
	return rss, hwm, threads, nil
}
