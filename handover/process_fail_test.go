package handover

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHandoverFailures: a successor that fails in any way leaves the old
// process serving every connection as if nothing happened (clients see at
// most a pause), it is reaped, and the next SIGUSR2 hands over normally.
func TestHandoverFailures(t *testing.T) {
	cases := []struct {
		name, plan string
		env        []string
		want       []string // in the HANDOVER-FAILED line
		dying      bool     // the successor reports CHILD-DYING
	}{
		{"successor exits at start", "exit", nil, []string{"exited before it was ready", "exit status 3"}, false},
		{"successor never ready", "hang", []string{"HANDOVER_TEST_READY_TIMEOUT=1s"}, []string{"not ready in time", "signal: killed"}, false},
		{"successor dies in the middle", "die-after 150", nil, []string{"channel closed", "signal: killed", "resumed"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := filepath.Join(t.TempDir(), "plan")
			if err := os.WriteFile(plan, []byte(tc.plan), 0o644); err != nil {
				t.Fatal(err)
			}
			bin, _ := os.Executable()
			sp := startServer(t, bin, append([]string{"HANDOVER_TEST_FAIL_FILE=" + plan, "HANDOVER_TEST_TICK=200ms"}, tc.env...)...)
			sp.allow["HANDOVER-FAILED"] = true
			pid1 := sp.cmd.proc.Pid
			w := newSwarm(t, sp.addr, 400, true)
			waitSwarm(t, w, "subscriptions", func() bool {
				for _, c := range w.cl {
					if c.sub && !c.gotS {
						return false
					}
				}
				return true
			})
			w.do(func() { w.pubOn = true })
			waitEchoesFrom(t, w, pid1)

			syscall.Kill(pid1, syscall.SIGUSR2)
			// No CHILD-START expected: a successor killed for not being
			// ready may not have got that far on a loaded machine.
			if tc.dying {
				sp.expect("CHILD-DYING")
			}
			failed := sp.expect("HANDOVER-FAILED")
			os.Remove(plan) // used up (a successor killed before it read it leaves it)
			for _, s := range tc.want {
				if !strings.Contains(failed.rest, s) {
					t.Fatalf("HANDOVER-FAILED %q does not say %q", failed.rest, s)
				}
			}
			m := regexp.MustCompile(`(?:pid |successor )(\d+)`).FindStringSubmatch(failed.rest)
			if m == nil {
				t.Fatalf("HANDOVER-FAILED %q names no successor", failed.rest)
			}
			child, _ := strconv.Atoi(m[1])
			if err := unix.Kill(child, 0); err != unix.ESRCH {
				t.Fatalf("the failed successor %d still exists (kill 0: %v): not reaped", child, err)
			}
			t.Logf("old process: %s", failed.rest)
			time.Sleep(300 * time.Millisecond) // the old process serves on

			// No plan now: this one goes through.
			syscall.Kill(pid1, syscall.SIGUSR2)
			pid2 := sp.expect("CHILD-START").pid
			if pid2 == child { // the failed one got that far
				pid2 = sp.expect("CHILD-START").pid
			}
			sp.expect("SERVING")
			sp.expect("HANDOVER-DONE")
			if st := <-sp.cmd.done; !st.Success() {
				t.Fatalf("the old process ended with %s", st)
			}
			t.Cleanup(func() { syscall.Kill(pid2, syscall.SIGKILL); reap(t, pid2) })
			waitEchoesFrom(t, w, pid2)
			w.do(func() { w.pubOn, w.quiet = false, true })
			settle(t, w, 0)
			w.do(func() {
				for _, c := range w.cl {
					// (A slow reader's first echo may have been read by
					// the successor only: it is not checked against pid1.)
					if c.sentE > 0 && ((!c.slow && c.pids[0] != pid1) || c.pids[len(c.pids)-1] != pid2 || len(c.pids) > 2) {
						t.Errorf("client %d: echoes answered by %v, want %d then %d", c.idx, c.pids, pid1, pid2)
						return
					}
				}
			})
		})
	}
}

// TestHandoverOldProcessDies: the old process dies (SIGKILL) after 200 of
// 400 connections were adopted. The successor sees the channel close with
// its parent gone and serves what it adopted, and the listener; the other
// connections died with the old process (nothing can save a socket whose
// last descriptor is gone).
func TestHandoverOldProcessDies(t *testing.T) {
	bin, _ := os.Executable()
	sp := startServer(t, bin, "HANDOVER_TEST_PARENT_DIE_AFTER=200", "HANDOVER_TEST_TICK=200ms")
	sp.allow["CLOSED"] = true
	pid1 := sp.cmd.proc.Pid
	const n = 400
	w := newSwarm(t, sp.addr, n, true)
	waitSwarm(t, w, "subscriptions", func() bool {
		for _, c := range w.cl {
			if c.sub && !c.gotS {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond)
	syscall.Kill(pid1, syscall.SIGUSR2)
	pid2 := sp.expect("CHILD-START").pid
	sp.expect("PARENT-DYING")
	<-sp.cmd.done
	done := sp.expect("RUN-DONE")
	t.Cleanup(func() { syscall.Kill(pid2, syscall.SIGKILL); reap(t, pid2) })
	if !strings.Contains(done.rest, "orphaned=true") {
		t.Fatalf("RUN-DONE %q: not an orphan takeover", done.rest)
	}
	f := strings.Fields(done.rest)
	adopted, _ := strconv.Atoi(strings.TrimPrefix(f[1], "adopted="))
	if adopted < 200 || adopted >= n {
		t.Fatalf("adopted %d of %d", adopted, n)
	}
	time.Sleep(500 * time.Millisecond)
	w.do(func() { w.quiet = true })
	waitSwarm(t, w, "answers to every echo sent", func() bool {
		for _, c := range w.cl {
			if c.err == "" && (len(c.pending) > 0 || c.gotE != c.sentE) {
				return false
			}
		}
		return true
	})
	var alive, ended int
	w.do(func() {
		for _, c := range w.cl {
			switch {
			case c.err == "":
				alive++
				if c.sentE > 0 && c.pids[len(c.pids)-1] != pid2 {
					t.Errorf("client %d: last echo from %d, want the successor %d", c.idx, c.pids[len(c.pids)-1], pid2)
				}
			case strings.Contains(c.err, "connection ended"), strings.Contains(c.err, "connection reset"):
				ended++ // with the old process
			default:
				t.Errorf("%s", c.err)
			}
		}
	})
	if alive != adopted || ended != n-adopted {
		t.Fatalf("%d clients alive, %d ended; the successor adopted %d of %d", alive, ended, adopted, n)
	}
	// The successor accepts on the inherited listener.
	w2 := newSwarm(t, sp.addr, 5, false)
	waitSwarm(t, w2, "answers from the successor", func() bool {
		for _, c := range w2.cl {
			if c.gotE == 0 || c.pids[0] != pid2 {
				return false
			}
		}
		return true
	})
}

// waitEchoesFrom waits until every client's latest echo was answered by
// pid (slow readers are behind their big replies: settle checks them).
func waitEchoesFrom(t *testing.T, w *swarm, pid int) {
	t.Helper()
	waitSwarm(t, w, fmt.Sprintf("an echo answered by %d on every connection", pid), func() bool {
		for _, c := range w.cl {
			if c.err == "" && !c.slow && (len(c.pids) == 0 || c.pids[len(c.pids)-1] != pid) {
				return false
			}
		}
		return true
	})
}
