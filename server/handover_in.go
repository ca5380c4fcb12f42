package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/handover"
	"github.com/wsedge/wsedge/poller"
)

// The successor's side of a handover: the listener handed over, then each
// connection adopted parked from its state record, all started at COMMIT.

// StartInherited is Start on the listening socket the old process handed
// over: the event loops run, but nothing is accepted or read until the
// Adopter's Commit.
func (s *Server) StartInherited(ln net.Listener) error {
	if ln == nil {
		return errors.New("server: no inherited listener")
	}
	return s.start(ln)
}

// adopter is the server's handover.Adopter.
type adopter struct {
	s        *Server
	pred     *handover.Predecessor
	start    handover.Start
	onCommit func()
	mu       sync.Mutex
	conns    map[uint64]*poller.Conn // adopted, by the old process's id
	sw       *handover.Switch        // the NATS switch, from COMMIT on (with -broker)
}

// Adopter returns what drives the adoption of the old process's
// connections (pred.Run), after StartInherited; st is what pred.Ready
// returned. onCommit runs once the adopted connections and the listener are
// served (the caller starts its other listeners there). With -broker (and
// HandoverSuccessor set, so the broker waited), the NATS switch starts at
// COMMIT.
func (s *Server) Adopter(pred *handover.Predecessor, st handover.Start, onCommit func()) handover.Adopter {
	return &adopter{s: s, pred: pred, start: st, onCommit: onCommit, conns: make(map[uint64]*poller.Conn)}
}

// Adopt restores a connection from its record, parked. An error refuses
// it: the old process keeps it.
func (a *adopter) Adopt(hc handover.Conn) error {
	s := a.s
	r, err := readRecord(hc.State)
	if err != nil {
		return err
	}
	// The state is prepared here and moved into the connection's own once
	// the poller has it (poller.State): until then nothing may ask it for
	// its connection.
	pre := wsConn{state: r.state, ep: r.ep, flags: r.flags}
	if r.upgraded {
		pre.up |= 1
	}
	if r.state == stOpen {
		pre.dec.Reset(&s.codec)
		pre.setDeflate(&s.codec, codec.Params{ServerMaxWindowBits: r.zbits, ClientMaxWindowBits: r.dec.PeerWindowBits, ClientNoContextTakeover: r.dec.PeerNoContext})
		if err := pre.dec.Restore(&s.codec, r.dec); err != nil {
			return fmt.Errorf("%w: %w", errRecord, err)
		}
	}
	var kept http.Header
	if r.headers != nil {
		if err := json.Unmarshal(r.headers, &kept); err != nil {
			return fmt.Errorf("%w: kept headers: %w", errRecord, err)
		}
	}
	// The poller owns what it is given even when it fails, and the
	// handover package closes hc.FD on a refusal: the poller gets a copy.
	fd, err := unix.FcntlInt(uintptr(hc.FD), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("adopt: dup: %w", err)
	}
	// A session's connection is attributed to its client (the peer, or who
	// a trusted proxy named), as in the old process: the session asks it.
	remote := r.remote
	if r.sess != nil {
		remote = netip.AddrPortFrom(r.client, remote.Port())
	}
	c, err := s.poll.Adopt(poller.Detached{FD: fd, Remote: remote, Input: r.input, Timer: r.timer, Idle: r.idle})
	if c == nil {
		pre.dec.Reset(&s.codec)
		return fmt.Errorf("adopt: %w", err)
	}
	w := poller.State[wsConn](c) // parked: no callback runs before StartAdopted
	*w = pre
	_ = unix.Close(hc.FD)
	now := s.poll.Now()
	stampAgo := func(age int64) poller.Stamp { // an age of 0 is none
		if age == 0 {
			return 0
		}
		return stamp(now - age)
	}
	if w.state == stHandshake {
		w.setAccepted(now - int64(r.since))
	} else {
		w.since, w.pingAt = stampAgo(int64(r.since)), stampAgo(int64(r.pingAt))
	}
	if r.msgAt != 0 {
		w.spill().msgAt = now - int64(r.msgAt)
	}
	ip := remote.Addr()
	if r.ticket {
		// Counted again here; never refused (it is already connected).
		if t, _, _ := s.adm.Admit(ip, false); t.Held() {
			w.ticket = t
		}
	}
	s.m.SocketsOpen.Inc()
	if w.upgraded() {
		s.open.Add(1)
		s.m.ConnectionsActive.Inc()
	}
	if r.sess != nil {
		sess, err := s.router.ImportSession(w, *r.sess)
		if err != nil {
			s.log.Warn("handover: session restored in part", zap.String("peer", r.remote.String()), zap.Error(err))
		}
		w.sess = sess
		if kept != nil {
			sess.Set(keptHeadersKey, kept)
		}
	}
	a.mu.Lock()
	a.conns[hc.ID] = c
	a.mu.Unlock()
	return nil
}

func (a *adopter) conn(id uint64) *poller.Conn {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conns[id]
}

// Write appends output the old process queued after the pause.
func (a *adopter) Write(id uint64, b []byte, shared bool) {
	c := a.conn(id)
	if c == nil {
		return
	}
	if shared {
		_ = c.WriteShared(b)
	} else {
		_ = c.Write(b)
	}
}

// Event applies what the old process did to a paused connection besides
// writing (see exportSink).
func (a *adopter) Event(id uint64, b []byte) {
	c := a.conn(id)
	if c == nil || len(b) == 0 {
		return
	}
	switch b[0] {
	case evFinal:
		_ = c.WriteFinal(nil)
		c.Do(func() {
			poller.State[wsConn](c).state = stDone
		})
	case evCloseAfterFlush:
		c.CloseAfterFlush(len(b) > 1 && b[1] == 1)
	case evSubscribe, evUnsubscribe:
		channel, on := string(b[1:]), b[0] == evSubscribe
		c.Do(func() {
			w := poller.State[wsConn](c)
			if w.sess == nil {
				return
			}
			if err := a.s.router.ApplySubscription(w.sess, channel, on); err != nil {
				a.s.log.Warn("handover: a server-side subscription change not applied", zap.String("channel", channel), zap.Error(err))
			}
		})
	}
}

// Commit serves everything adopted and accepts on the listener.
func (a *adopter) Commit() {
	s := a.s
	s.poll.StartAdopted()
	if err := s.poll.ResumeAccepting(); err != nil {
		s.log.Error("handover: cannot accept on the inherited listener", zap.Error(err))
	}
	// The map stays until Run returns: output the old process queued for a
	// connection before COMMIT may still follow it (a publish in flight).
	a.mu.Lock()
	n := len(a.conns)
	a.mu.Unlock()
	s.ho.conns.WithLabelValues("adopted").Add(float64(n))
	switch {
	case s.nats != nil && a.start.NATS:
		a.beginSwitch()
	case s.nats != nil: // the old process had no broker: nothing to switch
		if err := s.nats.Activate(); err != nil {
			s.log.Warn("handover: NATS subscriptions not confirmed", zap.Error(err))
		}
	case a.start.NATS && a.pred != nil:
		// The old process relays until this one says it subscribed; this
		// one has no broker (-broker was removed): nothing to wait for.
		go func() { _ = a.pred.Subscribed() }()
	}
	if a.onCommit != nil {
		a.onCommit()
	}
}

// Abort gives every adopted connection back (close(2) only).
func (a *adopter) Abort(err error) {
	s := a.s
	s.poll.DropAdopted()
	a.mu.Lock()
	conns := a.conns
	a.conns = nil
	a.mu.Unlock()
	for _, c := range conns {
		w := poller.State[wsConn](c)
		if w.sess != nil {
			s.router.Forget(w.sess)
		}
		s.adm.Release(&w.ticket)
		w.dec.Reset(&s.codec)
	}
	s.log.Warn("handover abandoned: the adopted connections are left to the old process", zap.Error(err), zap.Int("connections", len(conns)))
}
