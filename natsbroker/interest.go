package natsbroker

import (
	"errors"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// interest is the hub's hook: channel just got its first local subscriber (subscribed) or lost
// its last one. A first subscriber is handled at once, on the subscribing goroutine (a worker),
// and waits for the server to confirm, so that the subscribe's ack means the node already
// receives the channel's messages from other nodes. A lost last subscriber may be reported
// from the event loop (a connection closing), which must not wait for NATS: the channel is
// queued for the reconciler goroutine. Calls for one channel can arrive out of order, so both
// paths re-read the hub (sync) instead of trusting the flag.
func (b *Broker) interest(channel string, subscribed bool) {
	if subscribed {
		if b.sync(channel) {
			b.flush()
		}
		return
	}
	b.dirtyMu.Lock()
	b.dirty[channel] = struct{}{}
	b.dirtyMu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default: // already kicked
	}
}

// sync makes the node's NATS subscription to channel match whether the hub has local
// subscribers for it, and reports whether it subscribed. Serialized by b.mu, each call reads
// the hub after the change that triggered it, so the last call leaves the right state.
func (b *Broker) sync(channel string) (added bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || !b.perChannel {
		return false
	}
	want := b.hub.Subscribers(channel) > 0
	sub := b.subs[channel]
	switch {
	case want && sub == nil:
		s, err := b.nc.ChanSubscribe(b.subj.subject(channel), b.shard(channel))
		if err != nil {
			b.log.Error("nats subscribe failed; channel not shared with other nodes",
				zap.String("channel", channel), zap.Error(err))
			return false
		}
		b.subs[channel] = s
		return true
	case !want && sub != nil:
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			b.log.Warn("nats unsubscribe failed", zap.String("channel", channel), zap.Error(err))
		}
		delete(b.subs, channel)
	}
	return false
}

// reconcileLoop syncs the channels whose last local subscriber left.
func (b *Broker) reconcileLoop() {
	defer b.wg.Done()
	var batch []string
	for {
		select {
		case <-b.kick:
		case <-b.stop:
			return
		}
		b.dirtyMu.Lock()
		for ch := range b.dirty {
			batch = append(batch, ch)
		}
		clear(b.dirty)
		b.dirtyMu.Unlock()
		for i, ch := range batch {
			b.sync(ch)
			batch[i] = ""
		}
		batch = batch[:0]
	}
}
