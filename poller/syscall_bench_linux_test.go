package poller

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkNullSyscall: what one system call costs the calling thread here,
// split into user and system time (getppid does no work in the kernel). On
// a kernel with page-table isolation (PTI) every entry and exit switches
// page tables, and part of the cost lands in user time (the TLB refills
// after the return), so a server's user time per message has a floor of
// its system calls per message times user-ns/op: the figure that bounds the
// "user time per message" row in docs/benchmarks.md.
func BenchmarkNullSyscall(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	u0, s0 := threadCPU()
	for b.Loop() {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
	u1, s1 := threadCPU()
	b.ReportMetric(float64(u1-u0)/float64(b.N), "user-ns/op")
	b.ReportMetric(float64(s1-s0)/float64(b.N), "sys-ns/op")
}
