package server

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/handover"
)

// The NATS switch of a handover with -broker (docs/design.md, "Exactly once
// during the window"): the old process relays cluster messages from COMMIT
// until the successor's subscriptions are up plus the overlap; the
// successor merges both sources through a handover.Switch.

// endRelay is the old process's end of the NATS switch: wait for the
// successor's SUBSCRIBED (at most NATSWait: NATS may be down, or the
// successor gone), keep relaying for the overlap, then unsubscribe, relay
// what was queued, and send NATSEND.
func (s *Server) endRelay(tx *handover.Transfer, cfg HandoverConfig) {
	wait, overlap := cfg.NATSWait, cfg.NATSOverlap
	if wait <= 0 {
		wait = s.opts.HandoverTimeout
	}
	if overlap <= 0 {
		overlap = s.opts.HandoverNATSOverlap
	}
	start := time.Now()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	subscribed := false
	for !subscribed {
		select {
		case <-tx.Subscribed():
			subscribed = true
			continue
		case <-tick.C:
		case <-deadline.C:
		}
		if err := tx.Err(); err != nil {
			s.log.Warn("handover: the new process is gone during the NATS switch; messages in flight may be lost", zap.Error(err))
			break
		}
		if time.Since(start) >= wait {
			s.log.Warn("handover: the new process did not report its NATS subscriptions in time (is NATS down?); ending the relay", zap.Duration("waited", wait))
			break
		}
	}
	if subscribed {
		time.Sleep(overlap)
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(cfg.Silence, 10*time.Second))
	defer cancel()
	if err := s.nats.EndRelay(ctx); err != nil {
		s.log.Warn("handover: relaying what NATS had delivered", zap.Error(err))
	}
	if err := tx.EndNATS(); err != nil {
		s.log.Warn("handover: NATSEND", zap.Error(err))
	}
	st := s.nats.HandoverStats()
	s.ho.nats.WithLabelValues("relayed").Add(float64(st.Relayed))
	s.ho.nats.WithLabelValues("relay_dropped").Add(float64(st.Dropped))
	s.log.Info("handover: NATS relay ended", zap.Uint64("relayed", st.Relayed), zap.Uint64("dropped", st.Dropped),
		zap.Bool("subscribed", subscribed), zap.Duration("took", time.Since(start)))
}

// subscribedRetry is how often the successor retries confirming its NATS
// subscriptions while the server does not answer (NATS down).
const subscribedRetry = 500 * time.Millisecond

// beginSwitch subscribes what the adopted sessions need, and tells the old
// process once the NATS server confirmed (SUBSCRIBED); until NATSEND both
// sources go through a Switch. While NATS is down the confirmation is
// retried until the old process gives up waiting and sends NATSEND.
func (a *adopter) beginSwitch() {
	s := a.s
	a.sw = handover.NewSwitch(handover.SwitchConfig{Self: []uint64{s.nats.Origin(), a.start.Origin}})
	err := s.nats.BeginSwitch(a.sw, a.start.Origin)
	go func() {
		if err != nil {
			s.log.Warn("handover: NATS subscriptions not confirmed yet; retrying until the old process ends the relay", zap.Error(err))
		}
		for err != nil {
			if a.sw.Ended() {
				return
			}
			time.Sleep(subscribedRetry)
			err = s.nats.Flush(subscribedRetry)
		}
		if a.pred != nil {
			if err := a.pred.Subscribed(); err != nil {
				s.log.Debug("handover: SUBSCRIBED not sent", zap.Error(err))
			}
		}
	}()
}

// Relayed delivers a cluster message the old process relayed after COMMIT,
// through the switch.
func (a *adopter) Relayed(m handover.Message) {
	if a.s.nats != nil {
		a.s.nats.Relayed(m)
	}
}

// NATSEnd releases what the switch held; it keeps filtering the own
// subscriptions for the overlap (messages relayed before NATSEND may still
// be on their way here), then counts what it did.
func (a *adopter) NATSEnd() {
	s := a.s
	if s.nats == nil || a.sw == nil {
		return
	}
	s.nats.EndSwitch(s.opts.HandoverNATSOverlap, func(st handover.SwitchStats) {
		for _, c := range []struct {
			o string
			n uint64
		}{{"switch_relayed", st.Relayed}, {"switch_own", st.Own}, {"switch_duplicate", st.Duplicates}, {"switch_self", st.Self}, {"switch_late", st.Late}} {
			s.ho.nats.WithLabelValues(c.o).Add(float64(c.n))
		}
	})
}

// ClusterOrigin is this process's origin id in the cluster format (0
// without -broker): the successor sends it in HELLO so the old process
// drops, rather than relays, what this process publishes.
func (s *Server) ClusterOrigin() uint64 {
	if s.nats == nil {
		return 0
	}
	return s.nats.Origin()
}
