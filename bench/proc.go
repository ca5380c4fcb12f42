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
	At       time.Time `json:"-"`
	CPUTicks uint64    `json:"cpu_ticks"` // utime+stime, in 1/100 s
	RSS      int64     `json:"rss_bytes"` // VmRSS
	Threads  int       `json:"threads"`
	FDs      int       `json:"fds"` // open descriptors (-1 when unreadable)
}

// CPU is the process CPU time in the sample.
func (p ProcSample) CPU() time.Duration {
	return time.Duration(p.CPUTicks) * (time.Second / clockTicks)
}

// ReadProc samples process pid ("self" style pids are not accepted: pass
// os.Getpid()).
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now(), FDs: -1}
	base := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(base + "/stat")
	if err != nil {
		return s, fmt.Errorf("read proc stat: %w", err)
	}
	if s.CPUTicks, err = parseStatCPU(stat); err != nil {
		return s, fmt.Errorf("pid %d: %w", pid, err)
	}
	status, err := os.ReadFile(base + "/status")
	if err != nil {
		return s, fmt.Errorf("read proc status: %w", err)
	}
	if s.RSS, s.Threads, err = parseStatus(status); err != nil {
		return s, fmt.Errorf("pid %d: %w", pid, err)
	}
	if d, err := os.ReadDir(base + "/fd"); err == nil {
		s.FDs = len(d)
	}
	return s, nil
}

// parseStatCPU returns utime+stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so fields are counted after the last ')'.
func parseStatCPU(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: no command field")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after command, want >= 13", len(f))
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("proc stat: bad utime/stime %q %q", f[11], f[12])
	}
	return ut + st, nil
}

// parseStatus returns VmRSS (bytes) and Threads of a /proc/PID/status file.
func parseStatus(b []byte) (rss int64, threads int, err error) {
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
		case "VmRSS":
			f := bytes.Fields(v)
			if len(f) != 2 || string(f[1]) != "kB" {
				return 0, 0, fmt.Errorf("proc status: bad VmRSS %q", v)
			}
			kb, err := strconv.ParseInt(string(f[0]), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("proc status: bad VmRSS %q", v)
			}
			rss, haveRSS = kb*1024, true
		case "Threads":
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return 0, 0, fmt.Errorf("proc status: bad Threads %q", v)
			}
			threads, haveThreads = n, true
		}
	}
	if !haveRSS || !haveThreads {
		return 0, 0, fmt.Errorf("proc status: VmRSS or Threads missing")
	}
	return rss, threads, nil
}
