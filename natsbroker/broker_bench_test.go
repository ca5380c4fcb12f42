package natsbroker

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

// discardConn is a routing.Conn that accepts everything and keeps nothing.
type discardConn struct{}

func (discardConn) WriteMessage(codec.OpCode, []byte) error { return nil }
func (discardConn) WriteFrame([]byte) error                 { return nil }
func (discardConn) Flush() error                            { return nil }
func (discardConn) FlushSoon()                              {}
func (discardConn) Close(codec.CloseCode, string)           {}

// benchNode is a broker on an embedded server with subs local subscribers of "bench.room".
func benchNode(b *testing.B, subs int) *Broker {
	ns := natsServer(b, -1, 0)
	hub := routing.NewHub(0)
	br, err := New(ns.ClientURL(), hub, nil, func(c *config) { c.mode = modePerChannel })
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Close() })
	r := routing.New(routing.Options{Workers: 1, Hub: hub, Broker: br})
	b.Cleanup(r.Close)
	for range subs {
		s := r.Open(discardConn{}, testIP)
		if err := hub.Subscribe(s, []byte("bench.room")); err != nil {
			b.Fatal(err)
		}
	}
	br.interest("bench.room", true)
	return br
}

// Publish: subject build + nats.go publish + local delivery to 10 subscribers.
func BenchmarkPublish(b *testing.B) {
	br := benchNode(b, 10)
	frame := codec.AppendFrame(nil, codec.OpText, true, []byte(`{"type":"message","channel":"bench.room","data":{"n":1}}`))
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if err := br.Publish("bench.room", frame); err != nil {
			b.Fatal(err)
		}
	}
}

// deliver: what the node does per message received from NATS (nats.go's own allocations of
// the Msg and its payload copy are not included), with 10 local subscribers.
func BenchmarkDeliver(b *testing.B) {
	br := benchNode(b, 10)
	frame := codec.AppendFrame(nil, codec.OpText, true, []byte(`{"type":"message","channel":"bench.room","data":{"n":1}}`))
	m := &nats.Msg{Subject: br.subj.subject("bench.room"), Data: frame}
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
		buf = s.append(buf[:0], "room.42:lobby")
	}
}
