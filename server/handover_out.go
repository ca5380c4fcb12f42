package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/wsedge/wsedge/handover"
	"github.com/wsedge/wsedge/metrics"
	"github.com/wsedge/wsedge/poller"
	"github.com/wsedge/wsedge/routing"
)

// handoverState is the server's part of a restart without reconnects.
type handoverState struct {
	running  atomic.Bool
	ids      atomic.Uint64
	sink     exportSink
	total    *prometheus.CounterVec // by result
	duration prometheus.Histogram
	conns    *prometheus.CounterVec // by outcome
	nats     *prometheus.CounterVec // cluster messages of the NATS switch, by outcome
}

func (h *handoverState) init(m *metrics.Metrics) {
	h.total = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsedge_handover_total",
		Help: "Restarts without reconnects this process started, by result: committed, aborted (the old process serves on), failed_start (the successor never got ready), refused (not possible with this configuration).",
	}, []string{"result"})
	h.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wsedge_handover_duration_seconds",
		Help:    "From the successor's start to COMMIT (or the abort), for handovers this process started.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	h.conns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsedge_handover_connections_total",
		Help: "Connections in handovers, by outcome: moved (handed to the successor), kept (stayed here: TLS, closing, busy past the deadline, refused by the successor), adopted (taken over by this process).",
	}, []string{"outcome"})
	h.nats = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsedge_handover_nats_messages_total",
		Help: "Cluster messages during the NATS switch of handovers, by outcome. Old process: relayed (sent to the new process), relay_dropped (published by the new process, or arriving after the drain). New process: switch_relayed and switch_own (delivered from either source), switch_duplicate (received from both, delivered once), switch_self (published by either process, delivered by its publisher), switch_late (relayed after the switch ended early: lost unless received here too).",
	}, []string{"outcome"})
	m.Registry.MustRegister(h.total, h.duration, h.conns, h.nats)
	for _, o := range []string{"relayed", "relay_dropped", "switch_relayed", "switch_own", "switch_duplicate", "switch_self", "switch_late"} {
		h.nats.WithLabelValues(o)
	}
	for _, r := range []string{"committed", "aborted", "failed_start", "refused"} {
		h.total.WithLabelValues(r)
	}
	for _, o := range []string{"moved", "kept", "adopted"} {
		h.conns.WithLabelValues(o)
	}
}

// Events the old process sends for a paused connection besides bytes.
const (
	evFinal           = 'F' // the last bytes were queued: later writes fail, the connection is ending
	evCloseAfterFlush = 'C' // then a byte: 1 to wait for the peer's FIN
	evSubscribe       = 'S' // then a channel: the server API subscribed the session after its capture
	evUnsubscribe     = 'U' // then a channel: ... unsubscribed it
)

// handoverSubscription forwards a subscription the server API changed on a
// session whose connection is being handed over (its state was captured
// before): the successor applies it after what was written for the
// connection so far (the notice). Any goroutine.
func (s *Server) handoverSubscription(sess *routing.Session, ev byte, channel string) {
	w, ok := sess.Conn().(*wsConn)
	if !ok {
		return
	}
	if id, tx := s.ho.sink.id(w.conn()); tx != nil {
		_ = tx.Event(id, append([]byte{ev}, channel...))
	}
}

// exportSink tees what is written to exported connections to the transfer,
// under each connection's write lock (poller.ExportSink).
type exportSink struct {
	mu  sync.Mutex
	tx  *handover.Transfer
	ids map[*poller.Conn]uint64
}

func (e *exportSink) id(c *poller.Conn) (uint64, *handover.Transfer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.ids[c]
	if !ok {
		return 0, nil
	}
	return id, e.tx
}

func (e *exportSink) add(c *poller.Conn, id uint64) {
	e.mu.Lock()
	e.ids[c] = id
	e.mu.Unlock()
}

func (e *exportSink) drop(c *poller.Conn) {
	e.mu.Lock()
	delete(e.ids, c)
	e.mu.Unlock()
}

// Write errors need no handling here: a transfer that cannot queue has
// failed, and the driver aborts it (the local copy serves on).
func (e *exportSink) Write(c *poller.Conn, b []byte, flags poller.WriteFlags) {
	id, tx := e.id(c)
	if tx == nil {
		return
	}
	if flags&poller.WriteShared != 0 {
		_ = tx.WriteShared(id, b)
	} else {
		_ = tx.Write(id, b)
	}
	if flags&poller.WriteFinal != 0 {
		_ = tx.Event(id, []byte{evFinal})
	}
}

func (e *exportSink) CloseAfterFlush(c *poller.Conn, waitPeer bool) {
	if id, tx := e.id(c); tx != nil {
		ev := []byte{evCloseAfterFlush, 0}
		if waitPeer {
			ev[1] = 1
		}
		_ = tx.Event(id, ev)
	}
}

// HandoverConfig says how HandOver proceeds.
type HandoverConfig struct {
	// Listeners are the other listening sockets to hand over (admin, API),
	// sent after the WebSocket listener ("ws").
	Listeners []handover.Listener
	// The other listeners' part: Pause stops their accepting when the
	// WebSocket listener pauses (new connections wait in the kernel for the
	// successor); Drained waits until the requests they accepted are
	// answered, so that what their handlers publish is queued for the moved
	// connections before COMMIT and a later publish, answered by the
	// successor, cannot overtake it; Resume undoes Pause on an abort;
	// AfterCommit closes them. Any may be nil.
	Pause       func()
	Drained     func(ctx context.Context) error
	Resume      func()
	AfterCommit func()
	// Silence bounds each wait for the successor (TransferConfig.Timeout).
	Silence time.Duration
	// With -broker, after COMMIT: NATSWait bounds the wait for the
	// successor's SUBSCRIBED (0: the server's -handover-timeout), NATSOverlap
	// is how long the subscriptions stay after it (0: the server's
	// -handover-nats-overlap).
	NATSWait, NATSOverlap time.Duration
}

// HandoverResult says what a handover moved, and how long it took.
type HandoverResult struct {
	Moved, Kept, Refused int
	// Paused: from the pause of the listener to COMMIT (what a moved
	// connection waits at most), of which Exported until every connection
	// was queued; Duration: the whole HandOver, up to the successor
	// confirming it serves and the channel closed.
	Paused, Exported, Duration time.Duration
}

// ErrHandoverRunning: a handover is in progress already.
var ErrHandoverRunning = errors.New("a handover is already running")

// CanHandOver says whether this node can hand over at all, before a
// successor is started.
func (s *Server) CanHandOver() error {
	if s.poll == nil {
		return errors.New("not started")
	}
	if _, err := s.poll.ListenerFD(); err != nil {
		return fmt.Errorf("-poller %s: %w", s.opts.Poller, err)
	}
	return nil
}

// HandOver moves the listeners and every connection that can move to succ
// (started with handover.Spawn and ready), two-phase: until COMMIT this
// process can take everything back, and on any failure it does (the error
// says why; the node serves on, paused connections included). On success
// the moved connections are released here (close(2) only) and this process
// keeps only what did not move (TLS, closing connections, busy sessions past
// the deadline, refusals): the caller drains those (Shutdown: 1012) and
// exits. ctx bounds the whole handover.
func (s *Server) HandOver(ctx context.Context, succ *handover.Successor, cfg HandoverConfig) (HandoverResult, error) {
	var res HandoverResult
	if !s.ho.running.CompareAndSwap(false, true) {
		return res, ErrHandoverRunning
	}
	defer s.ho.running.Store(false)
	start := time.Now()
	res, err := s.handOver(ctx, succ, cfg)
	res.Duration = time.Since(start)
	s.ho.duration.Observe(res.Duration.Seconds())
	if err != nil {
		s.ho.total.WithLabelValues("aborted").Inc()
		return res, err
	}
	s.ho.total.WithLabelValues("committed").Inc()
	s.ho.conns.WithLabelValues("moved").Add(float64(res.Moved))
	s.ho.conns.WithLabelValues("kept").Add(float64(res.Kept))
	return res, nil
}

// CountHandover counts a handover that ended before HandOver (a successor
// that never got ready: "failed_start"; a configuration that cannot:
// "refused").
func (s *Server) CountHandover(result string) { s.ho.total.WithLabelValues(result).Inc() }

func (s *Server) handOver(ctx context.Context, succ *handover.Successor, cfg HandoverConfig) (HandoverResult, error) {
	var res HandoverResult
	if err := s.CanHandOver(); err != nil {
		succ.Abandon(err.Error(), time.Second)
		return res, err
	}
	lfd, err := s.poll.ListenerFD()
	if err == nil {
		err = s.poll.PauseAccepting()
	}
	if err != nil {
		succ.Abandon(err.Error(), time.Second)
		return res, err
	}
	pausedAt := time.Now()
	resume := func() {
		_ = s.poll.ResumeAccepting()
		if cfg.Resume != nil {
			cfg.Resume()
		}
	}
	if cfg.Pause != nil {
		cfg.Pause()
	}
	ls := append([]handover.Listener{{Name: "ws", Network: "tcp", Addr: s.poll.Addr().String(), FD: lfd}}, cfg.Listeners...)
	tc := handover.TransferConfig{Listeners: ls, Timeout: cfg.Silence}
	if s.nats != nil {
		tc.Origin, tc.NATS = s.nats.Origin(), true
	}
	tx, err := succ.Begin(tc)
	if err != nil {
		resume()
		succ.Abandon(err.Error(), time.Second)
		return res, fmt.Errorf("handover start: %w", err)
	}
	s.ho.sink.mu.Lock()
	s.ho.sink.tx, s.ho.sink.ids = tx, make(map[*poller.Conn]uint64)
	s.ho.sink.mu.Unlock()
	defer func() {
		s.ho.sink.mu.Lock()
		s.ho.sink.tx, s.ho.sink.ids = nil, nil
		s.ho.sink.mu.Unlock()
	}()

	moved, kept, err := s.exportAll(ctx, tx)
	exported := time.Since(pausedAt)
	if err == nil && cfg.Drained != nil {
		if derr := cfg.Drained(ctx); derr != nil {
			// A client that connected and sent nothing: its request, if
			// it comes, is answered here, after the switch.
			s.log.Warn("handover: HTTP requests still open at the switch", zap.Error(derr))
		}
	}
	var pr handover.Result
	if err == nil {
		tx.Flush()
		pr, err = tx.Prepare(ctx)
	}
	if err != nil {
		_ = tx.Abort(err, 2*time.Second)
		s.resume(moved)
		resume()
		return res, fmt.Errorf("handover aborted, serving on: %w", err)
	}
	// Connections the successor refused stay here (closed with 1012 by the
	// drain that follows).
	var refused []*wsConn
	if len(pr.Refused) > 0 {
		no := make(map[uint64]bool, len(pr.Refused))
		for _, r := range pr.Refused {
			no[r.ID] = true
			s.log.Warn("handover: the successor refused a connection; it stays here and is closed with 1012", zap.Uint64("id", r.ID), zap.String("reason", r.Reason))
		}
		kept := moved[:0]
		for _, w := range moved {
			if id, _ := s.ho.sink.id(w.conn()); no[id] {
				refused = append(refused, w)
			} else {
				kept = append(kept, w)
			}
		}
		moved = kept
	}
	paused := time.Since(pausedAt)
	commit := tx.Commit
	if s.nats != nil {
		// Under the broker's delivery lock: each cluster message is
		// delivered here (and teed to the moved connections) before
		// COMMIT, or relayed after it.
		commit = func() error { return s.nats.StartRelay(succ.Hello().Origin, tx.Commit, tx.Relay) }
	}
	if err := commit(); err != nil {
		_ = tx.Abort(err, 2*time.Second)
		s.resume(append(moved, refused...))
		resume()
		return res, fmt.Errorf("handover commit: %w", err)
	}
	// No way back from here: the successor serves.
	s.resume(refused)
	s.poll.StopAccepting() // close(2) of our copy of the listener
	if cfg.AfterCommit != nil {
		cfg.AfterCommit()
	}
	s.release(moved)
	res = HandoverResult{Moved: len(moved), Kept: kept + len(refused), Refused: len(refused), Paused: paused, Exported: exported}
	if err := tx.WaitRunning(ctx); err != nil {
		s.log.Warn("handover: the successor did not confirm it runs", zap.Error(err))
	}
	if _, err := handover.Notify(fmt.Sprintf("MAINPID=%d", succ.PID())); err != nil {
		s.log.Warn("handover: cannot tell the service manager the new main PID", zap.Error(err))
	} else if err := handover.NotifyBarrier(5 * time.Second); err != nil {
		s.log.Warn("handover: service manager barrier", zap.Error(err))
	}
	if s.nats != nil {
		s.endRelay(tx, cfg)
	}
	if err := tx.Close(); err != nil {
		s.log.Warn("handover: closing the channel", zap.Error(err))
	}
	return res, nil
}

// exportChunk bounds the connections one loop exports per pass, so a loop
// is never held long and the driver's flow control runs in between.
const exportChunk = 500

// busyWait bounds how long connections with a message being handled are
// waited for; past it they stay here.
const busyWait = 5 * time.Second

// exportAll pauses and queues every connection that can move, in passes
// of at most exportChunk per loop. It returns the exported ones (resumed
// by the caller on an abort) and how many stay.
func (s *Server) exportAll(ctx context.Context, tx *handover.Transfer) (moved []*wsConn, kept int, err error) {
	loops := s.poll.Config().Loops
	per := make([][]*wsConn, loops)
	busyUntil := time.Now().Add(busyWait)
	defer func() {
		for _, l := range per {
			moved = append(moved, l...)
		}
	}()
	for {
		counts := make([]int, loops)
		stays := make([]int, loops)
		var more, busy atomic.Int64
		s.poll.Each(func(c *poller.Conn) {
			l := c.LoopID()
			if counts[l] >= exportChunk {
				more.Add(1)
				return
			}
			w := poller.State[wsConn](c)
			switch err := s.export(w, tx); {
			case err == nil:
				counts[l]++
				per[l] = append(per[l], w)
			case errors.Is(err, routing.ErrSessionBusy) && time.Now().Before(busyUntil):
				busy.Add(1)
			default:
				stays[l]++
			}
		})
		tx.Flush()
		if err := tx.Wait(ctx, 4); err != nil {
			return nil, 0, err
		}
		if more.Load() == 0 && busy.Load() == 0 {
			for _, n := range stays {
				kept += n
			}
			return nil, kept, tx.Err()
		}
		if more.Load() == 0 {
			select { // only busy sessions left: let their handlers finish
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// errStays: the connection does not move (it is closed with 1012 here).
var errStays = errors.New("stays")

// export pauses w and queues it with its state. Loop only.
func (s *Server) export(w *wsConn, tx *handover.Transfer) error {
	if w.tls() != nil || w.state != stOpen && w.state != stHandshake {
		return errStays
	}
	if w.flags&fHold != 0 {
		return routing.ErrSessionBusy // its identity check ends soon
	}
	var st *routing.SessionState
	if w.sess != nil {
		ss, err := s.router.ExportSession(w.sess)
		if err != nil {
			return err
		}
		st = &ss
	}
	id := s.ho.ids.Add(1)
	return w.conn().Export(func(d *poller.Detached) error {
		rec := appendRecord(nil, w.captureRecord(d, st))
		s.ho.sink.add(w.conn(), id)
		if err := tx.Add(handover.Conn{ID: id, FD: d.FD, State: rec}); err != nil {
			s.ho.sink.drop(w.conn())
			return err
		}
		if len(d.Output) > 0 {
			_ = tx.Write(id, d.Output) // a failure fails the transfer: the driver aborts
		}
		return nil
	})
}

// onLoops runs fn for each connection on its loop and waits for all.
func (s *Server) onLoops(ws []*wsConn, fn func(w *wsConn)) {
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		w.conn().Do(func() {
			defer wg.Done()
			fn(w)
		})
	}
	wg.Wait()
}

// resume serves exported connections on (an abort, or refused ones).
func (s *Server) resume(ws []*wsConn) {
	s.onLoops(ws, func(w *wsConn) {
		s.ho.sink.drop(w.conn())
		if err := w.conn().Resume(); err != nil {
			s.log.Warn("handover: cannot resume a connection", zap.Error(err))
		}
	})
}

// release forgets connections the successor serves now: close(2) of our
// descriptor, and the session, slots and counts without a disconnect.
func (s *Server) release(ws []*wsConn) {
	s.onLoops(ws, func(w *wsConn) {
		w.conn().Release()
		s.ho.sink.drop(w.conn())
		s.m.SocketsOpen.Dec()
		s.adm.Release(&w.ticket)
		if w.sess != nil {
			s.router.Forget(w.sess)
			w.sess = nil
		}
		w.dec.Reset(&s.codec)
		if w.upgraded() {
			s.open.Add(-1)
			s.m.ConnectionsActive.Dec()
		}
	})
}
