package handover

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// closingAdopter adopts and, at commit, closes its descriptors (the
// benchmark reuses the old side's sockets).
type closingAdopter struct{ fds []int }

func (a *closingAdopter) Adopt(c Conn) error         { a.fds = append(a.fds, c.FD); return nil }
func (a *closingAdopter) Write(uint64, []byte, bool) {}
func (a *closingAdopter) Event(uint64, []byte)       {}
func (a *closingAdopter) Commit()                    { closeFDs(a.fds) }
func (a *closingAdopter) Abort(error)                { closeFDs(a.fds) }
func (a *closingAdopter) Relayed(Message)            {}
func (a *closingAdopter) NATSEnd()                   {}

// BenchmarkTransfer hands over 1,000 real TCP connections per operation
// through the channel in one process (no process start): START, batches of
// 253 descriptors with a state record each, the queued bytes of each, END,
// PREPARED, COMMIT. conns/s is the figure to compare with the process
// test's (which adds starting the successor and the servers' own work).
func BenchmarkTransfer(b *testing.B) {
	const n = 1000
	_, fds := tcpConns(b, n)
	for _, size := range []int{64, 4096} {
		b.Run(fmt.Sprintf("state=%dB", size), func(b *testing.B) {
			state := make([]byte, size)
			queued := make([]byte, 100)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tx, pred, _ := inProcess(b, Hello{}, TransferConfig{})
				a := &closingAdopter{fds: make([]int, 0, n)}
				rc := runAsync(pred, a)
				for i, fd := range fds {
					if err := tx.Add(Conn{ID: uint64(i), FD: fd, State: state}); err != nil {
						b.Fatal(err)
					}
					tx.Write(uint64(i), queued)
					if i%256 == 255 {
						tx.Flush()
						if err := tx.Wait(b.Context(), 4); err != nil {
							b.Fatal(err)
						}
					}
				}
				if _, err := tx.Prepare(b.Context()); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				if err := tx.WaitRunning(b.Context()); err != nil {
					b.Fatal(err)
				}
				tx.Close()
				if r := <-rc; r.err != nil {
					b.Fatal(r.err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "conns/s")
		})
	}
}

// BenchmarkHandoverProcess measures whole handovers between real
// processes: HANDOVER_BENCH_CONNS (default 2,000) idle client connections,
// one SIGUSR2 per operation, each to the current server process, which
// hands everything to a new process of the test binary. The reported
// figures are the old process's own: from SIGUSR2 to the successor
// reporting RUNNING (spawn and HELLO included), and the transfer alone
// (START to PREPARED).
func BenchmarkHandoverProcess(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("HANDOVER_BENCH_CONNS")); err == nil && v > 0 {
		n = v
	}
	bin, _ := os.Executable()
	sp := startServer(b, bin, "HANDOVER_TEST_TICK=1h")
	w := newSwarm(b, sp.addr, n, true)
	w.do(func() { w.quiet = true })
	waitSwarm(b, w, "subscriptions", func() bool {
		for _, c := range w.cl {
			if c.sub && !c.gotS {
				return false
			}
		}
		return true
	})
	pid := sp.cmd.proc.Pid
	var total, transfer time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		syscall.Kill(pid, syscall.SIGUSR2)
		done := sp.expect("HANDOVER-DONE")
		f := strings.Fields(done.rest)
		next, _ := strconv.Atoi(f[0])
		us, _ := strconv.Atoi(f[2])
		total += time.Duration(us) * time.Microsecond
		d, _ := time.ParseDuration(strings.TrimPrefix(f[4], "transfer="))
		transfer += d
		sp.expect("SERVING")
		if i == 0 {
			<-sp.cmd.done
		} else {
			reap(b, pid)
		}
		pid = next
		sp.mu.Lock()
		sp.pids[pid] = true
		sp.mu.Unlock()
	}
	b.StopTimer()
	var errs []string
	var bad int
	w.do(func() { errs, bad = w.report() })
	syscall.Kill(pid, syscall.SIGKILL)
	reap(b, pid)
	if bad > 0 {
		b.Fatalf("%d clients saw a problem: %v", bad, errs)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/handover")
	b.ReportMetric(float64(n*b.N)/transfer.Seconds(), "conns/s-transfer")
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "conns/s-overall")
}
