package natsbroker

import (
	"hash/maphash"
	"unsafe"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// shard is the delivery queue of channel: always the same one, so a channel's messages keep the
// order in which NATS delivered them while different channels are delivered in parallel.
func (b *Broker) shard(channel string) chan *nats.Msg {
	return b.shards[maphash.String(b.seed, channel)%uint64(len(b.shards))]
}

// route is the handler of the every-channel subscription (hub without interest hook): it moves
// each message to its channel's delivery queue. Blocking here pushes back into nats.go's
// bounded pending buffer of the subscription, which reports a slow consumer when it overflows.
func (b *Broker) route(m *nats.Msg) {
	ch, ok := b.subj.channel(m.Subject)
	if !ok {
		b.reject(m)
		return
	}
	select {
	case b.shard(ch) <- m:
	case <-b.stop:
	}
}

// deliverLoop hands the messages of one queue to the hub. After stop it delivers what is
// still queued (nats.go no longer adds any: the connection is closed) and returns.
func (b *Broker) deliverLoop(q chan *nats.Msg) {
	defer b.wg.Done()
	for {
		select {
		case m := <-q:
			b.deliver(m)
		case <-b.stop:
			for {
				select {
				case m := <-q:
					b.deliver(m)
				default:
					return
				}
			}
		}
	}
}

// deliver queues another node's frame to the local subscribers of its channel. m.Data is
// nats.go's own copy of the message, never reused, so subscribers' write queues share it by
// reference: no copy and no re-encoding on the receiving node.
func (b *Broker) deliver(m *nats.Msg) {
	if !validFrame(m.Data) {
		b.reject(m)
		return
	}
	ch, ok := b.channelOf(m.Subject, m.Data)
	if !ok {
		b.reject(m)
		return
	}
	b.received.Add(1)
	d, x := b.hub.Deliver(ch, m.Data)
	b.delivered.Add(uint64(d))
	if x > 0 {
		b.dropped.Add(uint64(x))
	}
}

// channelOf returns the channel of a received frame. When the frame names the channel its
// subject stands for, which is always the case for frames from wsedge nodes, the name is read
// in place from the frame (immutable, owned by this message), so an escaped subject such as
// "wsedge.ch.a%2Eb" costs no allocation; otherwise the subject is decoded.
func (b *Broker) channelOf(subject string, frame []byte) (string, bool) {
	if name := frameChannel(frame); name != nil && b.subj.is(subject, name) {
		return unsafe.String(unsafe.SliceData(name), len(name)), true
	}
	return b.subj.channel(subject)
}

// reject counts a message that is not a channel frame; the first one is logged.
func (b *Broker) reject(m *nats.Msg) {
	b.invalid.Add(1)
	if b.warnedInvalid.CompareAndSwap(false, true) {
		b.log.Warn("ignoring a message on a channel subject that is not a wsedge frame (further ones are only counted)",
			zap.String("subject", m.Subject), zap.Int("bytes", len(m.Data)))
	}
}
