package natsbroker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/wsedge/wsedge/handover"
)

// The broker's part of a restart without reconnects (docs/design.md, "Restart without
// reconnects", "Exactly once during the window").
//
// The old process, at COMMIT (StartRelay): under the delivery lock, every message received
// afterwards on a channel, user or command subject goes to the successor (handover.Transfer's
// Relay) instead of this node; the subscriptions stay as they are even though the hub lost its
// sessions. After the successor's SUBSCRIBED and the overlap, EndRelay unsubscribes and waits
// until what nats.go had queued is relayed; then the caller sends NATSEND.
//
// The successor: created with Standby, it neither subscribes nor answers commands while it
// adopts (its hub's interest is only recorded). At COMMIT, BeginSwitch subscribes what the
// adopted sessions need and the command subject; until NATSEND (EndSwitch) what its own
// subscriptions receive and what the old process relays (Relayed) go through a
// handover.Switch, which delivers each message once.
//
// Relayed messages carry the NATS subject as handover.Message.Channel (so the Switch's
// thresholds are per subject) and, as Payload, the reply subject and the message:
// uvarint(len(reply)) reply data.

// Handover modes of the delivery path.
const (
	modeNormal  = iota // deliver to this node
	modeRelay          // old process after COMMIT: relay to the successor
	modeDrained        // old process after EndRelay: drop (nothing should arrive)
	modeSwitch         // successor from COMMIT to the end of the switch: through the Switch
)

type handoverState struct {
	// mu is the delivery lock: every delivery (channel, user, command) holds it for reading,
	// so a mode change waits for deliveries in progress and each message takes one path.
	mu        sync.RWMutex
	mode      int
	relay     func(handover.Message) error // modeRelay
	successor uint64                       // modeRelay: the successor's origin, dropped
	sw        *handover.Switch             // modeSwitch

	ignore   atomic.Uint64 // successor: the old process's origin, never taken from NATS
	relaying atomic.Bool   // old process from COMMIT on: Publish refuses
	quiet    atomic.Bool   // say no bye: standby (never announced) or handed over

	// Under Broker.mu: standby records interest instead of subscribing; frozen keeps the
	// subscriptions as they are (the old process after COMMIT).
	standby  bool
	deferred map[subKey]struct{}
	frozen   bool

	marks sync.WaitGroup // drainQueues' marks still in the delivery queues

	relayed, relayDropped atomic.Uint64
}

func (h *handoverState) init(standby bool) {
	h.standby = standby
	h.quiet.Store(standby)
	h.deferred = make(map[subKey]struct{})
}

// Standby makes New connect without subscribing anything or announcing the node: the
// successor of a restart without reconnects, whose subscriptions start at COMMIT
// (BeginSwitch). Interest reported meanwhile is recorded.
func Standby() Option { return func(c *config) { c.standby = true } }

// isMark reports whether m is one of drainQueues' marks: nats.go sets Sub and a subject on
// everything it delivers.
func isMark(m *nats.Msg) bool { return m.Sub == nil && m.Subject == "" }

// deliver hands a message from a channel or user subscription to the node, the successor or
// the Switch, by mode.
func (b *Broker) deliver(m *nats.Msg) {
	if isMark(m) {
		b.ho.marks.Done()
		return
	}
	b.route(m, false)
}

// onCommand is deliver for the command subject (nats.go's goroutine of its subscription).
func (b *Broker) onCommand(m *nats.Msg) { b.route(m, true) }

// route sends a cluster message where the handover mode says, under the mode's read lock so
// that each message takes exactly one path at COMMIT: handled here (a command, or delivered to
// the node), relayed to the successor, or into the Switch. command is a bool rather than a
// handler func so that no method value is made per message.
func (b *Broker) route(m *nats.Msg, command bool) {
	b.ho.mu.RLock()
	defer b.ho.mu.RUnlock()
	switch b.ho.mode {
	case modeNormal:
		if command {
			b.handleCommand(m)
		} else {
			b.deliverNow(m)
		}
	case modeRelay:
		b.relayOut(m)
	case modeSwitch:
		b.switchIn(m)
	default:
		b.ho.relayDropped.Add(1)
	}
}

// message turns a NATS message into a handover.Message (copies: the relay and the Switch may
// keep it).
func (b *Broker) message(m *nats.Msg) handover.Message {
	hm := handover.Message{Channel: []byte(m.Subject)}
	var e envelope
	if isBinary(m.Data) && decodeEnvelope(m.Data, &e) == nil {
		hm.Origin, hm.Seq = e.originID, e.seq
	}
	p := make([]byte, 0, binary.MaxVarintLen64+len(m.Reply)+len(m.Data))
	p = binary.AppendUvarint(p, uint64(len(m.Reply)))
	p = append(p, m.Reply...)
	hm.Payload = append(p, m.Data...)
	return hm
}

// relayOut is the old process's delivery after COMMIT. A message the successor published is
// dropped: it delivered it to its own clients.
func (b *Broker) relayOut(m *nats.Msg) {
	hm := b.message(m)
	if hm.Origin != 0 && hm.Origin == b.ho.successor {
		b.ho.relayDropped.Add(1)
		return
	}
	if err := b.ho.relay(hm); err != nil {
		b.ho.relayDropped.Add(1)
		b.warnOnce(m, "handover: a cluster message could not be relayed to the new process: "+err.Error())
		return
	}
	b.ho.relayed.Add(1)
}

// switchIn is the successor's delivery of its own subscriptions during the switch.
func (b *Broker) switchIn(m *nats.Msg) { b.ho.sw.Own(b.message(m), b.deliverMessage) }

// deliverMessage delivers a message the Switch let through, as if NATS had just delivered it.
func (b *Broker) deliverMessage(hm handover.Message) {
	n, k := binary.Uvarint(hm.Payload)
	if k <= 0 || uint64(len(hm.Payload)-k) < n {
		b.malformed.Add(1)
		return
	}
	reply := string(hm.Payload[k : k+int(n)])
	data := append([]byte(nil), hm.Payload[k+int(n):]...) // framed in place, kept by the hub
	m := &nats.Msg{Subject: string(hm.Channel), Reply: reply, Data: data}
	if m.Subject == b.subj.cmd {
		b.handleCommand(m)
	} else {
		b.deliverNow(m)
	}
}

// StartRelay is the old process's COMMIT: under the delivery lock it calls commit (which
// queues COMMIT: handover.Transfer.Commit) and, if that succeeds, sends every message received
// from then on to relay (handover.Transfer.Relay) instead of this node, dropping those of the
// successor's origin. The subscriptions stay until EndRelay, whatever the hub reports. From
// then on Publish answers UNAVAILABLE: what this origin publishes after COMMIT, the successor
// would drop (docs/design.md).
func (b *Broker) StartRelay(successor uint64, commit func() error, relay func(handover.Message) error) error {
	b.ho.mu.Lock()
	defer b.ho.mu.Unlock()
	if b.ho.mode != modeNormal {
		return errors.New("natsbroker: a handover is in progress already")
	}
	if err := commit(); err != nil {
		return err
	}
	b.ho.mode, b.ho.relay, b.ho.successor = modeRelay, relay, successor
	b.ho.relaying.Store(true)
	b.ho.quiet.Store(true)
	b.mu.Lock()
	b.ho.frozen = true
	b.mu.Unlock()
	return nil
}

// EndRelay ends the old process's subscriptions (channels, users, commands) and returns once
// every message nats.go had queued for delivery before is relayed; later ones are dropped (the
// successor's own subscriptions have them). ctx bounds the wait for the delivery queues.
func (b *Broker) EndRelay(ctx context.Context) error {
	b.mu.Lock()
	for k, s := range b.subs {
		if d, err := s.Dropped(); err == nil {
			b.natsDroppedGone.Add(uint64(d))
		}
		_ = s.Unsubscribe() // nothing is pushed to the queues once it returns
		delete(b.subs, k)
	}
	cmd := b.cmdSub
	b.cmdSub = nil
	b.mu.Unlock()
	if cmd != nil {
		// Its pending messages are dropped by nats.go: numbered above everything relayed
		// from their origin, so the successor delivers its own copies.
		_ = cmd.Unsubscribe()
	}
	err := b.drainQueues(ctx)
	b.ho.mu.Lock() // waits for a command handler or delivery in progress
	b.ho.mode = modeDrained
	b.ho.mu.Unlock()
	return err
}

// drainQueues returns once everything the delivery queues held when it was called has been
// delivered (or relayed): it puts a mark behind it in each queue and waits for the marks.
func (b *Broker) drainQueues(ctx context.Context) error {
	b.ho.marks.Add(len(b.shards))
	for i, q := range b.shards {
		select {
		case q <- &nats.Msg{}:
		case <-ctx.Done():
			for range b.shards[i:] {
				b.ho.marks.Done()
			}
			return fmt.Errorf("natsbroker: draining the delivery queues: %w", ctx.Err())
		}
	}
	done := make(chan struct{})
	go func() { b.ho.marks.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("natsbroker: draining the delivery queues: %w", ctx.Err())
	}
}

// BeginSwitch is the successor's COMMIT: from now on its own subscriptions' messages go
// through sw (whose Self lists this process's and the old process's origins) until EndSwitch;
// the old process's origin is never taken from NATS again. It subscribes every target the
// hub reported interest in while on standby, and the command subject, then waits (within
// SubscribeFlushTimeout) for the NATS server to confirm: on an error, call Flush until it
// succeeds before telling the old process (handover.Predecessor.Subscribed).
func (b *Broker) BeginSwitch(sw *handover.Switch, old uint64) error {
	b.ho.mu.Lock()
	b.ho.mode, b.ho.sw = modeSwitch, sw
	b.ho.ignore.Store(old)
	b.ho.mu.Unlock()
	return b.Activate()
}

// Activate ends the standby (Standby): it subscribes every target the hub reported interest
// in meanwhile, and the command subject, and announces the node; then it waits (within
// SubscribeFlushTimeout) for the NATS server to confirm. Alone, it is the successor's start
// when the old process had no broker (no switch: nothing to merge). Calling it again only
// flushes.
func (b *Broker) Activate() error {
	b.mu.Lock()
	standby := b.ho.standby
	b.ho.standby = false
	keys := b.ho.deferred
	b.ho.deferred = make(map[subKey]struct{})
	b.mu.Unlock()
	for k := range keys {
		b.sync(k)
	}
	if standby {
		b.ho.quiet.Store(false)
		if err := b.startCommands(); err != nil {
			return err
		}
	}
	return b.Flush(b.cfg.flushTimeout)
}

// Flush waits, within timeout, until the NATS server processed everything sent so far.
func (b *Broker) Flush(timeout time.Duration) error { return b.nc.FlushTimeout(timeout) }

// Relayed delivers a message the old process relayed (handover.Adopter.Relayed), through
// the Switch. Its slices are not kept.
func (b *Broker) Relayed(m handover.Message) {
	b.ho.mu.RLock()
	sw := b.ho.sw
	b.ho.mu.RUnlock()
	if sw == nil {
		b.ho.relayDropped.Add(1) // no switch: not a successor, or after it ended
		return
	}
	sw.Relayed(m, b.deliverMessage)
}

// EndSwitch is NATSEND: the old process's subscriptions ended before it was sent. First this
// process's own subscriptions catch up to that point: a round trip to the NATS server (what
// it sent before the old process's UNSUB is read once the PONG is), then everything queued
// for delivery and for the command callback is handed to the Switch. Otherwise a message the
// old process relayed could reach the Switch through this process's own subscription after
// End, a few milliseconds late, and a message without an origin (matched by content only
// until End) would be delivered twice (TestBinaryRestartWithBroker caught it). Then the
// Switch releases what it held, and keeps filtering the own subscriptions for linger (by
// origin and number), after which delivery is direct and done (if not nil) gets the
// Switch's counts. While NATS is down the catch-up is skipped: nothing arrives anyway.
func (b *Broker) EndSwitch(linger time.Duration, done func(handover.SwitchStats)) {
	b.ho.mu.RLock()
	sw := b.ho.sw
	b.ho.mu.RUnlock()
	if sw == nil {
		return
	}
	// Bounded generously: a loaded machine must not skip it (that doubles messages), and
	// while NATS is down the flush fails at once.
	bound := max(5*time.Second, b.cfg.flushTimeout)
	if err := b.nc.FlushTimeout(bound); err != nil {
		b.log.Warn("handover: the NATS switch ends without catching up (NATS unreachable)", zap.Error(err))
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		if err := b.drainQueues(ctx); err != nil {
			b.log.Warn("handover: the NATS switch ends before this process caught up", zap.Error(err))
		}
		barrier := make(chan struct{})
		if b.nc.Barrier(func() { close(barrier) }) == nil {
			select {
			case <-barrier:
			case <-ctx.Done():
			}
		}
		cancel()
	}
	sw.End(b.deliverMessage)
	time.AfterFunc(linger, func() {
		b.ho.mu.Lock()
		if b.ho.sw == sw {
			b.ho.mode, b.ho.sw = modeNormal, nil
		}
		b.ho.mu.Unlock()
		st := sw.Stats()
		b.log.Info("handover: NATS switch ended", zap.Uint64("relayed", st.Relayed), zap.Uint64("own", st.Own),
			zap.Uint64("duplicates", st.Duplicates), zap.Uint64("self", st.Self), zap.Uint64("late", st.Late),
			zap.Uint64("held_max", st.Held), zap.Bool("forced", st.Forced))
		if done != nil {
			done(st)
		}
	})
}

// HandoverStats are the old process's relay counters.
type HandoverStats struct {
	Relayed uint64 // messages relayed to the successor
	Dropped uint64 // not relayed: the successor's own, after the drain, or the relay failed
}

// HandoverStats returns the relay counters.
func (b *Broker) HandoverStats() HandoverStats {
	return HandoverStats{Relayed: b.ho.relayed.Load(), Dropped: b.ho.relayDropped.Load()}
}
