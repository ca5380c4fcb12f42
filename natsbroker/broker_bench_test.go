package natsbroker

import (
	"net/netip"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

// discardConn is a routing.Conn that accepts everything and keeps nothing; it frames
// publications as the real connection does.
type discardConn struct{}

func (discardConn) Send([]byte) error { return nil }
func (discardConn) SendPrepared(m *codec.Prepared) error {
	_ = m.Frame()
	return nil
}
func (discardConn) Flush() error                  { return nil }
func (discardConn) FlushSoon()                    {}
func (discardConn) Close(codec.CloseCode, string) {}
func (discardConn) RemoteIP() netip.Addr          { return testIP }

// benchNode is a broker on an embedded server whose hub has subs local subscribers of
// "bench.room".
func benchNode(b *testing.B, subs int) (*Broker, *routing.Hub) {
	ns := natsServer(b, -1, 0)
	hub := routing.NewHub(0)
	br, err := New(ns.ClientURL(), hub, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Close() })
	hub.SetCluster(br)
	r := routing.New(routing.Options{Workers: 1, Hub: hub})
	b.Cleanup(r.Close)
	for range subs {
		s := r.Open(discardConn{})
		if err := hub.Subscribe(s, []byte("bench.room")); err != nil {
			b.Fatal(err)
		}
	}
	return br, hub
}

// Publish: what a publish costs the node besides building its message: the wire message and
// nats.go's publish, then local delivery to 10 subscribers (Hub.Send).
func BenchmarkPublish(b *testing.B) {
	_, hub := benchNode(b, 10)
	p := routing.Publication{Kind: routing.KindChannel, Target: "bench.room",
		Payload: routing.ChannelMessage("bench.room", []byte(`{"n":1}`))}
	b.ReportAllocs()
	b.SetBytes(int64(len(p.Payload.Payload())))
	for b.Loop() {
		if err := hub.Send(p); err != nil {
			b.Fatal(err)
		}
	}
}

// Deliver: what the node does per message received from another node (nats.go's own
// allocations of the Msg and its payload copy are not included), with 10 local subscribers:
// decode, check, frame once in place, queue to each.
func BenchmarkDeliver(b *testing.B) {
	br, _ := benchNode(b, 10)
	e := envelope{kind: kindChannel, origin: "other-node:8080", target: "bench.room"}
	m := &nats.Msg{Subject: br.subj.subject(routing.KindChannel, "bench.room"),
		Data: appendEnvelope(nil, &e, []byte(`{"type":"message","channel":"bench.room","data":{"n":1}}`))}
	b.ReportAllocs()
	for b.Loop() {
		br.deliver(m)
	}
}

// DeliverJSON: the same for plain JSON data from a backend, which each node turns into the
// channel message.
func BenchmarkDeliverJSON(b *testing.B) {
	br, _ := benchNode(b, 10)
	m := &nats.Msg{Subject: br.subj.subject(routing.KindChannel, "bench.room"), Data: []byte(`{"n":1}`)}
	b.ReportAllocs()
	for b.Loop() {
		br.deliver(m)
	}
}

func BenchmarkSubjectAppend(b *testing.B) {
	s, _ := newSubjects(DefaultSubjectPrefix)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.append(buf[:0], routing.KindChannel, "room.42:lobby")
	}
}
