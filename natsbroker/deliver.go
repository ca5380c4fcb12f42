package natsbroker

import (
	"bytes"
	"hash/maphash"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

// shard is the delivery queue of a target: always the same one, so a channel's messages keep
// the order in which NATS delivered them while different channels are delivered in parallel.
func (b *Broker) shard(target string) chan *nats.Msg {
	return b.shards[maphash.String(b.seed, target)%uint64(len(b.shards))]
}

// deliverLoop hands the messages of one queue to the node. After stop it delivers what is
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

// deliverNow turns a message from NATS into a publication for this node's receivers: either a
// wsedge node's binary message, whose payload is the client message as is, or a backend's
// plain JSON data on a channel subject, which becomes {"type":"message","channel":…,"data":…}.
// Either way the message is framed once for all local receivers; a node's message is framed
// in place in m.Data (nats.go's own copy, never reused), without copying the payload.
func (b *Broker) deliverNow(m *nats.Msg) {
	kind, ok := b.subj.kind(m.Subject)
	if !ok {
		b.reject(m, "not a channel or user subject")
		return
	}
	p := routing.Publication{Kind: kind}
	if !isBinary(m.Data) {
		_, target, ok := b.subj.target(m.Subject)
		data := bytes.TrimSpace(m.Data)
		switch {
		case kind != routing.KindChannel:
			b.reject(m, "plain JSON is only accepted on channel subjects")
			return
		case !ok || !routing.ValidChannel(target):
			b.reject(m, "not a valid channel name")
			return
		case !utf8.Valid(data) || !routing.ValidJSON(data):
			b.reject(m, "neither a wsedge message nor one JSON value in UTF-8")
			return
		}
		p.Target, p.Payload = target, routing.ChannelMessage(target, data)
	} else {
		// The target is read from the message and checked against the subject, which is
		// never decoded: no allocation for an escaped name such as "a%2Eb".
		var e envelope
		switch err := decodeEnvelope(m.Data, &e); {
		case err == errUnknownVersion || err == errCritical:
			b.unknownVersion.Add(1)
			b.warnOnce(m, "a wsedge message this node cannot read (newer version or feature): dropped")
			return
		case err != nil:
			b.reject(m, err.Error())
			return
		case e.kind != wireKind(kind) || !b.subj.is(m.Subject, kind, e.target):
			b.reject(m, "the message names another target than its subject")
			return
		case !utf8.Valid(e.payload):
			b.reject(m, "payload is not UTF-8 text")
			return
		case e.originID != 0 && e.originID == b.ho.ignore.Load():
			return // the old process of a handover: its publisher delivered it here already
		}
		if e.padded {
			p.Payload = codec.NewPreparedRoom(codec.OpText, m.Data, len(m.Data)-len(e.payload))
		} else {
			p.Payload = codec.NewPrepared(codec.OpText, e.payload)
		}
		p.Target, p.Exclude = e.target, e.exclude
	}
	b.received.Add(1)
	d, x := b.node.Deliver(p)
	b.delivered.Add(uint64(d))
	if x > 0 {
		b.dropped.Add(uint64(x))
	}
}

// reject counts a message that cannot be delivered; the first one is logged.
func (b *Broker) reject(m *nats.Msg, why string) {
	b.malformed.Add(1)
	b.warnOnce(m, "ignoring a message on a wsedge subject: "+why+" (further ones are only counted)")
}

func (b *Broker) warnOnce(m *nats.Msg, msg string) {
	if b.warnedInvalid.CompareAndSwap(false, true) {
		b.log.Warn(msg, zap.String("subject", m.Subject), zap.Int("bytes", len(m.Data)))
	}
}
