package handover

// The line server's side of a handover: what the integration into poller
// and server does, in miniature. The old process pauses connections on its
// loop and exports them; the successor adopts them parked and starts them
// at COMMIT.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// State record fields of a line-server connection (format version 1).
const (
	stVersion = 1
	fPort     = 1 // peer port, as seen by the process that accepted it
	fCount    = 2 // echoes answered
	fSub      = 3 // subscribed
	fTicks    = 4 // timer ticks sent
	fNextTick = 5 // remaining time to the next tick
	fIn       = 6 // unconsumed input (a partial line)
)

// exportSome pauses and exports up to n connections; loop only.
func (s *lineServer) exportSome(n int) (int, error) {
	now, done := time.Now(), 0
	for _, c := range s.conns {
		if done == n {
			break
		}
		if c.moved {
			continue
		}
		// Pause: no more events for it here. EPOLL_CTL_DEL is needed:
		// closing our descriptor later would not remove it from the epoll
		// set while the successor's descriptor keeps the socket open.
		unix.EpollCtl(s.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
		st := NewRecord(nil, stVersion).Uint(fPort, uint64(c.port)).Uint(fCount, c.count).
			Bool(fSub, c.sub).Uint(fTicks, c.ticks).Duration(fNextTick, max(c.next.Sub(now), 0)).Bytes(fIn, c.in).Done()
		if err := s.tx.Add(Conn{ID: c.id, FD: c.fd, State: st}); err != nil {
			return done, err
		}
		c.moved = true
		if len(c.out) > 0 {
			s.tx.Write(c.id, c.out) // queued output goes first
		}
		delete(s.dirty, c)
		done++
	}
	return done, nil
}

// resumeAll undoes the pause after an aborted handover; loop only.
func (s *lineServer) resumeAll() int {
	n := 0
	for _, c := range s.conns {
		if !c.moved {
			continue
		}
		c.moved, c.pollOut = false, false
		unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)})
		s.dirty[c] = struct{}{}
		n++
	}
	s.tx = nil
	s.startAccepting()
	return n
}

// handover runs on SIGUSR2 (driver goroutine). It returns when this process
// should exit (true) or serve on (false).
func (s *lineServer) handover(natsClosed <-chan struct{}, pumped <-chan struct{}) bool {
	start := time.Now()
	env := os.Environ()
	for i, kv := range env {
		if strings.HasPrefix(kv, "HANDOVER_TEST_GEN=") {
			env[i] = "HANDOVER_TEST_GEN=" + strconv.Itoa(s.gen+1)
		}
	}
	ready := 60 * time.Second
	if v := os.Getenv("HANDOVER_TEST_READY_TIMEOUT"); v != "" {
		// Only while a planned failure is pending: a loaded machine
		// may need seconds to start a race-enabled successor.
		if _, err := os.Stat(os.Getenv("HANDOVER_TEST_FAIL_FILE")); err == nil {
			ready, _ = time.ParseDuration(v)
		}
	}
	ctx := context.Background()
	succ, err := Spawn(ctx, SpawnConfig{Env: env, ReadyTimeout: ready})
	if err != nil {
		s.say("HANDOVER-FAILED %v", err)
		return false
	}
	tReady := time.Since(start)
	s.do(s.stopAccepting)
	tx, err := succ.Begin(TransferConfig{
		Listeners: []Listener{{Name: "lines", Network: "tcp", Addr: s.lnAddr, FD: s.lnfd}},
		Origin:    s.origin, NATS: s.nc != nil, Timeout: 30 * time.Second, // a loaded CI machine
	})
	if err != nil {
		succ.Abandon(err.Error(), 3*time.Second)
		s.do(func() { s.resumeAll() })
		s.say("HANDOVER-FAILED %v", err)
		return false
	}
	s.do(func() {
		s.tx = tx
		s.self = append(s.self, succ.Hello().Origin)
	})
	dieAfter, _ := strconv.Atoi(os.Getenv("HANDOVER_TEST_PARENT_DIE_AFTER"))
	var exported int
	for {
		var n int
		s.do(func() { n, err = s.exportSome(100) })
		exported += n
		if err == nil {
			tx.Flush()
			err = tx.Wait(ctx, 4)
		}
		if err == nil && dieAfter > 0 && exported >= dieAfter {
			tx.Wait(ctx, 0)
			s.say("PARENT-DYING after %d", exported)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		if err != nil || n == 0 {
			break
		}
	}
	var res Result
	if err == nil {
		res, err = tx.Prepare(ctx)
	}
	tPrepared := time.Since(start)
	if err == nil && len(res.Refused) > 0 {
		err = fmt.Errorf("%d connections refused: %v", len(res.Refused), res.Refused[0])
	}
	if err == nil {
		s.do(func() {
			if err = tx.Commit(); err != nil {
				return
			}
			s.relayNATS = s.nc != nil
			// Release: close(2) only; the sockets live on in the successor.
			for _, c := range s.conns {
				unix.Close(c.fd)
				delete(s.byFD, c.fd)
			}
			unix.Close(s.lnfd)
		})
	}
	if err != nil {
		aerr := tx.Abort(err, 3*time.Second)
		var resumed int
		s.do(func() {
			resumed = s.resumeAll()
			s.self = s.self[:1]
		})
		s.say("HANDOVER-FAILED %v (abort: %v; resumed %d connections, successor reaped)", err, aerr, resumed)
		return false
	}
	if err := tx.WaitRunning(ctx); err != nil {
		s.say("HANDOVER-WARNING successor did not report running: %v", err)
	}
	took := time.Since(start)
	if _, err := Notify(fmt.Sprintf("MAINPID=%d\nSTATUS=handed over to %d", succ.PID(), succ.PID())); err != nil {
		s.say("HANDOVER-WARNING notify: %v", err)
	} else if err := NotifyBarrier(5 * time.Second); err != nil {
		s.say("HANDOVER-WARNING barrier: %v", err)
	}
	s.say("HANDOVER-DONE %d %d %d ready=%s transfer=%s commit=%s", succ.PID(), res.Adopted, took.Microseconds(),
		tReady.Round(time.Millisecond), (tPrepared - tReady).Round(time.Millisecond), (took - tPrepared).Round(time.Millisecond))
	if s.nc != nil {
		select {
		case <-tx.Subscribed():
		case <-time.After(10 * time.Second):
			s.say("HANDOVER-WARNING no SUBSCRIBED")
		}
		time.Sleep(250 * time.Millisecond) // the overlap (TestSwitchOverNATS says why)
		s.nc.Drain()
		<-natsClosed
		<-pumped
		s.do(func() { tx.EndNATS() })
	}
	if err := tx.Close(); err != nil {
		s.say("HANDOVER-WARNING close: %v", err)
	}
	return true
}

// adopter is the successor's side.
type adopter struct {
	s       *lineServer
	pred    *Predecessor
	adopted int
	dieAt   int
	commit  chan struct{}
}

func (a *adopter) Adopt(c Conn) error {
	v, fields, err := ReadRecord(c.State)
	if err != nil {
		return err
	}
	if v != stVersion {
		return fmt.Errorf("state version %d not supported", v)
	}
	lc := &lsConn{id: c.ID, fd: c.FD, parked: true}
	var next time.Duration
	for _, f := range fields {
		switch f.Tag {
		case fPort:
			p, _ := f.Uint()
			lc.port = int(p)
		case fCount:
			lc.count, _ = f.Uint()
		case fSub:
			lc.sub, _ = f.Bool()
		case fTicks:
			lc.ticks, _ = f.Uint()
		case fNextTick:
			next, _ = f.Duration()
		case fIn:
			lc.in = append([]byte(nil), f.Value...)
		}
	}
	lc.rem = next // made absolute at COMMIT: time paused does not count
	a.adopted++
	if a.dieAt > 0 && a.adopted >= a.dieAt {
		a.s.say("CHILD-DYING after %d", a.adopted)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	a.s.post(func() { a.s.conns[lc.id], a.s.byFD[lc.fd] = lc, lc })
	return nil
}

func (a *adopter) Write(id uint64, b []byte, shared bool) {
	if !shared {
		b = append([]byte(nil), b...)
	}
	a.s.post(func() { a.s.conns[id].out = append(a.s.conns[id].out, b...) })
}

func (a *adopter) Event(uint64, []byte) {}

func (a *adopter) Commit() {
	s := a.s
	s.post(func() {
		now := time.Now()
		for _, c := range s.conns {
			if !c.parked {
				continue
			}
			c.parked = false
			c.next = now.Add(c.rem)
			unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)})
			s.dirty[c] = struct{}{}
			if len(c.in) > 0 {
				s.lines(c) // a line may have completed in the state
			}
		}
		s.startAccepting()
		s.say("SERVING %d %d", s.gen, len(s.conns))
		close(a.commit)
	})
}

func (a *adopter) Abort(err error) {
	a.s.do(func() {
		for _, c := range a.s.conns {
			unix.Close(c.fd) // close(2) only: the old process serves on
		}
		if a.s.lnfd >= 0 {
			unix.Close(a.s.lnfd)
		}
	})
}

func (a *adopter) Relayed(m Message) {
	m.Channel = append([]byte(nil), m.Channel...)
	m.Payload = append([]byte(nil), m.Payload...)
	a.s.post(func() { a.s.sw.Relayed(m, a.s.deliver) })
}

func (a *adopter) NATSEnd() { a.s.post(func() { a.s.sw.End(a.s.deliver) }) }

var errNoListener = errors.New("no listener named lines")

func inheritListener(st Start) (int, string, error) {
	for _, l := range st.Listeners {
		if l.Name == "lines" {
			return l.FD, l.Addr, nil
		}
	}
	return -1, "", errNoListener
}
