package server

import (
	"context"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/api"
	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/perm"
	"github.com/wsedge/wsedge/routing"
)

// Presence is read from the subscription index itself: a channel's subscribers are the hub's
// list, and each one's user and info are its session's identity. So presence keeps no state
// of its own: a presence entry costs nothing beyond the subscription (a pointer in the
// channel's array and the session's record of its slot, there anyway), in namespaces with presence or
// without. What a request costs is transient: the answer, at most PresenceMax entries of
// (client id 34 bytes + user + info). Join and leave events are built when a session joins or
// leaves a channel of a join_leave namespace, queued (JoinLeaveQueue events at most) and sent
// by one goroutine to the channel's subscribers on every node.

// handlePresence is the "presence" message type: the clients subscribed to the channel, on
// every node, when its namespace has presence and the connection may see them.
func (b *backend) handlePresence(c *routing.Context) error {
	ch, err := c.NeedChannel()
	if err != nil {
		return err
	}
	sess := c.Session()
	if d := b.policy().Presence(ch, sess.User(), sess.Subscribed(ch)); d != perm.Allow {
		return routing.NewError(routing.CodePermission, d.String())
	}
	channel := string(ch)
	if b.s.nats == nil {
		clients, err := b.localPresence(channel, b.s.opts.PresenceMax)
		if err != nil {
			return routing.NewError(routing.CodeOverloaded, err.Error())
		}
		return c.Send(appendPresence(nil, c.ID(), clients))
	}
	// Across nodes: a gather, which may take up to its deadline; the worker does not wait.
	if err := b.admitCall(sess); err != nil {
		return err
	}
	d := c.Defer()
	go func() {
		defer b.inflight.Add(-1)
		ctx, cancel := context.WithTimeout(context.Background(), b.s.opts.APITimeout)
		defer cancel()
		clients, err := apiNode{b}.Presence(ctx, channel)
		if err != nil {
			code := routing.CodeUnavailable
			if e, ok := err.(*api.Error); ok && e.Kind == api.KindTooLarge {
				code = routing.CodeOverloaded
			}
			_ = d.Error(code, presenceFailure(err))
			return
		}
		_ = d.Send(appendPresence(nil, d.ID(), clients))
	}()
	return nil
}

// presenceFailure is the client's message for a failed presence gather.
func presenceFailure(err error) string {
	if e, ok := err.(*api.Error); ok && e.Message != "" {
		return e.Message
	}
	return "presence unavailable"
}

// appendPresence appends {"type":"presence","id":…,"clients":[{"client","user","info"},…]}.
func appendPresence(dst, id []byte, clients []api.Client) []byte {
	dst = append(dst, `{"type":"presence"`...)
	if id != nil {
		dst = append(dst, `,"id":`...)
		dst = append(dst, id...)
	}
	dst = append(dst, `,"clients":[`...)
	for i, cl := range clients {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendClient(dst, cl.Client, cl.User, cl.Info)
	}
	return append(dst, "]}"...)
}

// appendClient appends "client":…,"user":…[,"info":…] as an object.
func appendClient(dst []byte, client, user string, info []byte) []byte {
	dst = append(dst, `{"client":`...)
	dst = strconv.AppendQuote(dst, client) // hex and '-': nothing to escape
	dst = append(dst, `,"user":`...)
	dst = appendJSONString(dst, user)
	if info != nil {
		dst = append(dst, `,"info":`...)
		dst = append(dst, info...)
	}
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string (invalid UTF-8 as U+FFFD).
func appendJSONString(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // replaces invalid bytes with U+FFFD
	}
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

// memberEvent is one join or leave waiting to be sent.
type memberEvent struct {
	sess    *routing.Session
	channel string
	joined  bool
}

// membership is the hub's hook: a session joined or left a channel. It runs on a worker or
// an event loop (a closing connection), so it only queues; a full queue drops the event.
func (b *backend) membership(sess *routing.Session, channel string, joined bool) {
	if !b.policy().JoinLeave([]byte(channel)) {
		return
	}
	select {
	case b.events <- memberEvent{sess, channel, joined}:
	default:
		if b.dropped.Add(1) == 1 {
			b.s.log.Warn("join/leave event queue full: events dropped (-join-leave-queue)")
		}
	}
}

// sendEvents sends the queued join and leave events, in order, until closeBackend.
func (b *backend) sendEvents() {
	defer b.wg.Done()
	for {
		select {
		case ev := <-b.events:
			b.sendEvent(ev)
		case <-b.stop:
			for {
				select {
				case ev := <-b.events:
					b.sendEvent(ev)
				default:
					return
				}
			}
		}
	}
}

// sendEvent sends {"type":"join"|"leave","channel","user","client","info"} to the channel's
// subscribers on every node, except the session itself. Local subscribers get it even while
// the broker is down: an event is a hint, at most once like every message.
func (b *backend) sendEvent(ev memberEvent) {
	typ := "leave"
	if ev.joined {
		typ = "join"
	}
	info := ev.sess.Info()
	buf := codec.PreparedBuffer(64 + len(ev.channel) + len(ev.sess.User()) + len(info))
	buf = append(buf, `{"type":"`...)
	buf = append(buf, typ...)
	buf = append(buf, `","channel":"`...)
	buf = append(buf, ev.channel...)
	buf = append(buf, `","user":`...)
	buf = appendJSONString(buf, ev.sess.User())
	buf = append(buf, `,"client":`...)
	buf = strconv.AppendQuote(buf, ev.sess.ClientID().String())
	if info != nil {
		buf = append(buf, `,"info":`...)
		buf = append(buf, info...)
	}
	buf = append(buf, '}')
	p := routing.Publication{
		Kind: routing.KindChannel, Target: ev.channel, Exclude: ev.sess.ClientID(),
		Payload: codec.NewPreparedRoom(codec.OpText, buf, codec.MaxHeaderSize),
	}
	hub := b.s.router.Hub()
	if cl := hub.Cluster(); cl != nil {
		if err := cl.Publish(p); err != nil {
			b.s.log.Debug("join/leave event not sent to the other nodes", zap.Error(err))
		}
	}
	hub.Deliver(p)
	b.m.events.Inc()
}
