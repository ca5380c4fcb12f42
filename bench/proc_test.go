package bench

import (
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        string
		user, sys uint64
		bad       bool
	}{
		{name: "plain", in: "1234 (wsedge) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 120 0 0 20 0 9 0", user: 250, sys: 120},
		{name: "comm with spaces and parens", in: "7 (my (odd) prog) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0", user: 3, sys: 4},
		{name: "sum overflows", in: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 18446744073709551615 4 0", bad: true},
		{name: "short", in: "7 (x) R 1 7", bad: true},
		{name: "no comm", in: "7 x R 1 7 7 0 -1 0 0 0 0 0 3 4", bad: true},
		{name: "non-numeric", in: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 a 4 0", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, st, err := parseStatCPU([]byte(tc.in))
			if (err != nil) != tc.bad || u != tc.user || st != tc.sys {
				t.Fatalf("got %d %d, %v", u, st, err)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		rss     int64
		hwm     int64
		threads int
		bad     bool
	}{
		{name: "ok", in: "Name:\twsedge\nVmRSS:\t   16884 kB\nThreads:\t9\n", rss: 16884 * 1024, threads: 9},
		{name: "with peak", in: "VmHWM:\t  40000 kB\nVmRSS:\t   16884 kB\nThreads:\t9\n", rss: 16884 * 1024, hwm: 40000 * 1024, threads: 9},
		{name: "bad peak", in: "VmHWM:\t-4 kB\nVmRSS:\t4 kB\nThreads:\t2\n", bad: true},
		{name: "no trailing newline", in: "Threads:\t2\nVmRSS:\t4 kB", rss: 4096, threads: 2},
		{name: "missing rss", in: "Threads:\t2\n", bad: true},
		{name: "bad unit", in: "VmRSS:\t4 MB\nThreads:\t2\n", bad: true},
		{name: "bad threads", in: "VmRSS:\t4 kB\nThreads:\tmany\n", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rss, hwm, th, err := parseStatus([]byte(tc.in))
			if (err != nil) != tc.bad || rss != tc.rss || hwm != tc.hwm || th != tc.threads {
				t.Fatalf("got %d %d %d %v", rss, hwm, th, err)
			}
		})
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.Threads <= 0 || s.FDs <= 0 || s.CtxSwitches < 0 || s.UserTicks > s.CPUTicks {
		t.Fatalf("%+v", s)
	}
	if _, err := ReadProc(-5); err == nil {
		t.Fatal("bad pid accepted")
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("1234 (wsedge) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 120 0 0 20 0 9 0"))
	f.Add([]byte("1 ()) R"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if u, s, err := parseStatCPU(b); err == nil && u+s < u {
			t.Fatalf("utime %d + stime %d overflows", u, s)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("VmRSS:\t   16884 kB\nThreads:\t9\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if rss, _, _, err := parseStatus(b); err == nil && rss%1024 != 0 {
			t.Fatalf("VmRSS %d is not whole kB", rss)
		}
	})
}
