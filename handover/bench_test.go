package handover

import (
	"fmt"
	"testing"
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
