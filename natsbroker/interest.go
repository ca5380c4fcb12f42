package natsbroker

import (
	"errors"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/wsedge/wsedge/routing"
)

// Interest is routing.Cluster's report that target just got its first local receiver (on) or
// lost its last one: the node then listens to exactly the subjects it has receivers for. A
// first receiver is handled at once, on the subscribing goroutine (a worker), and waits for
// the server to confirm, so that the subscribe's ack means the node already receives the
// channel's messages from other nodes. A lost last receiver may be reported from an event
// loop (a connection closing), which must not wait for NATS: the target is queued for the
// reconciler goroutine. Calls for one target can arrive out of order, so both paths re-read
// the node (sync) instead of trusting the flag. A user's first connection is handled in the
// background too: identification may happen on an event loop, and no acknowledgement waits
// for it.
func (b *Broker) Interest(kind routing.Kind, target string, on bool) {
	k := subKey{kind, target}
	if on && kind == routing.KindChannel {
		if b.sync(k) {
			b.flush()
		}
		return
	}
	b.dirtyMu.Lock()
	b.dirty[k] = struct{}{}
	b.dirtyMu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default: // already kicked
	}
}

// sync makes the node's NATS subscription of k match whether the node has receivers for it,
// and reports whether it subscribed. Serialized by b.mu, each call reads the node after the
// change that triggered it, so the last call leaves the right state.
func (b *Broker) sync(k subKey) (added bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.ho.frozen {
		return false
	}
	if b.ho.standby {
		b.ho.deferred[k] = struct{}{} // subscribed at BeginSwitch
		return false
	}
	want := b.node.Receivers(k.kind, k.target) > 0
	sub := b.subs[k]
	switch {
	case want && sub == nil:
		if len(k.target) > maxField {
			b.log.Error("target too long to share with other nodes", zap.Stringer("kind", k.kind), zap.Int("bytes", len(k.target)))
			return false
		}
		s, err := b.nc.ChanSubscribe(b.subj.subject(k.kind, k.target), b.shard(k.target))
		if err != nil {
			b.log.Error("nats subscribe failed; not shared with other nodes",
				zap.Stringer("kind", k.kind), zap.String("target", k.target), zap.Error(err))
			return false
		}
		b.subs[k] = s
		return true
	case !want && sub != nil:
		if d, err := sub.Dropped(); err == nil {
			b.natsDroppedGone.Add(uint64(d))
		}
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			b.log.Warn("nats unsubscribe failed", zap.Stringer("kind", k.kind), zap.String("target", k.target), zap.Error(err))
		}
		delete(b.subs, k)
	}
	return false
}

// reconcileLoop syncs the targets whose last local receiver left.
func (b *Broker) reconcileLoop() {
	defer b.wg.Done()
	var batch []subKey
	for {
		select {
		case <-b.kick:
		case <-b.stop:
			return
		}
		b.dirtyMu.Lock()
		for k := range b.dirty {
			batch = append(batch, k)
		}
		clear(b.dirty)
		b.dirtyMu.Unlock()
		for i, k := range batch {
			b.sync(k)
			batch[i] = subKey{}
		}
		batch = batch[:0]
	}
}
