package server

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/api"
	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/natsbroker"
	"github.com/wsedge/wsedge/routing"
)

// The server API acts on the whole cluster by running the same operation on every node: on
// this one directly, on the others as a command (natsbroker: Scatter, then Wait for every
// peer's reply until the call's deadline). This file holds each operation's local part, the
// command handlers that run it for another node, and the bodies they exchange (JSON; see
// docs/cluster.md, Commands).

// Command bodies and replies.
type (
	userCmd struct {
		User    string `json:"user"`
		Channel string `json:"channel,omitempty"`
		Code    int    `json:"code,omitempty"`
		Reason  string `json:"reason,omitempty"`
	}
	channelCmd struct {
		Channel string `json:"channel,omitempty"`
		Pattern string `json:"pattern,omitempty"`
		Max     int    `json:"max,omitempty"` // presence: the most clients the caller takes
	}
	affectedReply struct {
		Connections int `json:"connections"`
	}
	presenceReply struct {
		Clients []api.Client `json:"clients"`
	}
	// statsReply carries the users themselves, as 64-bit FNV-1a hashes (8 bytes each,
	// base64), so that the caller counts a user connected to several nodes once.
	statsReply struct {
		NumClients int    `json:"num_clients"`
		Users      string `json:"users"`
	}
	channelsReply struct {
		Channels map[string]api.ChannelStats `json:"channels"`
	}
)

// errTooMany starts the error text of a presence that lists more clients than allowed.
const errTooMany = "too many clients"

// tooMany is the error of a presence over PresenceMax.
func tooMany(max int) error {
	return fmt.Errorf("%s for presence (more than %d, -presence-max): use presence_stats", errTooMany, max)
}

// localSubscribe subscribes every connection of user on this node to channel, each newly
// subscribed one getting {"type":"subscribed","channel":…}, and counts the connections that
// are subscribed afterwards.
func (b *backend) localSubscribe(user, channel string) int {
	hub := b.s.router.Hub()
	notice := appendNotice(nil, "subscribed", channel)
	n := 0
	hub.UserSessions(user, func(sess *routing.Session) bool {
		added, err := hub.SubscribeNotice(sess, []byte(channel), notice)
		if err != nil {
			b.s.log.Info("server-side subscribe refused", zap.String("user", user), zap.String("channel", channel), zap.Error(err))
			return true
		}
		if added {
			b.s.handoverSubscription(sess, evSubscribe, channel)
		}
		n++
		return true
	})
	return n
}

// localUnsubscribe undoes localSubscribe ({"type":"unsubscribed",…} to those that were
// subscribed).
func (b *backend) localUnsubscribe(user, channel string) int {
	hub := b.s.router.Hub()
	notice := appendNotice(nil, "unsubscribed", channel)
	n := 0
	hub.UserSessions(user, func(sess *routing.Session) bool {
		if removed, err := hub.UnsubscribeNotice(sess, []byte(channel), notice); err == nil {
			if removed {
				b.s.handoverSubscription(sess, evUnsubscribe, channel)
			}
			n++
		}
		return true
	})
	return n
}

// localDisconnect closes every connection of user on this node with code and reason. Their
// sessions end at once (no more deliveries, gone from presence and from the user's
// connections, so a repeated disconnect counts 0) while the close handshake runs.
func (b *backend) localDisconnect(user string, code int, reason string) int {
	n := 0
	b.s.router.Hub().UserSessions(user, func(sess *routing.Session) bool {
		sess.Conn().Close(codec.CloseCode(code), reason)
		b.s.router.Closed(sess)
		n++
		return true
	})
	return n
}

// localPresence lists this node's subscribers of channel, at most max (0: any number).
func (b *backend) localPresence(channel string, max int) ([]api.Client, error) {
	var out []api.Client
	var err error
	b.s.router.Hub().SubscribedSessions(channel, func(sess *routing.Session) bool {
		if max > 0 && len(out) >= max {
			err = tooMany(max)
			return false
		}
		out = append(out, api.Client{Client: sess.ClientID().String(), User: sess.User(), Info: sess.Info()})
		return true
	})
	return out, err
}

// userSet holds users by their 64-bit FNV-1a hash: what presence_stats counts.
type userSet map[uint64]struct{}

func userHash(u string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(u))
	return h.Sum64()
}

// localStats counts this node's subscribers of channel and collects their users.
func (b *backend) localStats(channel string, users userSet) (clients int) {
	b.s.router.Hub().SubscribedSessions(channel, func(sess *routing.Session) bool {
		clients++
		if u := sess.User(); u != "" {
			users[userHash(u)] = struct{}{}
		}
		return true
	})
	return clients
}

// encodeUsers packs a user set as base64 of 8-byte big-endian hashes.
func encodeUsers(users userSet) string {
	buf := make([]byte, 0, 8*len(users))
	for h := range users {
		buf = binary.BigEndian.AppendUint64(buf, h)
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// decodeUsers adds the users of encodeUsers's s to users.
func decodeUsers(s string, users userSet) error {
	buf, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(buf)%8 != 0 {
		return errors.New("malformed user set")
	}
	for ; len(buf) > 0; buf = buf[8:] {
		users[binary.BigEndian.Uint64(buf)] = struct{}{}
	}
	return nil
}

// localChannels adds this node's channels matching p, with their subscriber counts, to out.
func (b *backend) localChannels(p api.Pattern, out map[string]api.ChannelStats) {
	b.s.router.Hub().Channels(func(name string, n int) bool {
		if p.Match(name) {
			st := out[name]
			st.NumClients += n
			out[name] = st
		}
		return true
	})
}

// localInfo describes this node.
func (b *backend) localInfo() api.NodeInfo {
	subs := 0
	b.s.router.Hub().Channels(func(_ string, n int) bool { subs += n; return true })
	return api.NodeInfo{
		Name: b.nodeName(), NumClients: b.s.Connections(), NumSubscriptions: subs,
		Uptime: int64(time.Since(b.s.started) / time.Second),
	}
}

// nodeName is this node's name in the cluster (-node-name).
func (b *backend) nodeName() string {
	if b.s.nats != nil {
		return b.s.nats.Name()
	}
	return b.s.opts.nodeName()
}

// onCluster runs an operation on every node: the command goes out to the others first, so
// that when NATS cannot take it nothing is done at all (503); then local runs here while the
// others work, and each reply is passed to each (serially, on this goroutine). Any node that
// fails or does not answer before ctx ends makes the whole call fail: never a partial answer.
func (b *backend) onCluster(ctx context.Context, name string, body any, local func() error, each func(natsbroker.Reply) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	nb := b.s.nats
	if nb == nil {
		return local()
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	g, err := nb.Scatter(name, raw)
	if err != nil {
		return api.Unavailable("channel broker unavailable", err)
	}
	failed := local()
	_, err = g.Wait(ctx, func(r natsbroker.Reply) {
		if failed != nil {
			return
		}
		if r.Err != "" {
			failed = remoteError(r)
			return
		}
		if err := each(r); err != nil {
			failed = api.Unavailable("node "+r.Node+" answered "+name+" with something unreadable", err)
		}
	})
	if failed != nil {
		return failed
	}
	if err != nil {
		return api.Unavailable("not every node answered in time", err)
	}
	return nil
}

// remoteError maps another node's failure to the API's answer.
func remoteError(r natsbroker.Reply) error {
	if strings.HasPrefix(r.Err, errTooMany) || r.Err == natsbroker.ErrReplyTooLarge.Error() {
		return api.TooLarge("node " + r.Node + ": " + r.Err)
	}
	return api.Unavailable("node "+r.Node+" failed", errors.New(r.Err))
}

// registerCommands makes this node answer the other nodes' server API commands.
func (b *backend) registerCommands() {
	nb := b.s.nats
	// A first subscriber waits for NATS to confirm the channel (Hub.Subscribe): off the
	// command goroutine, so that other commands go on meanwhile.
	nb.HandleCommandAsync(natsbroker.CmdSubscribeUser, b.async(func(c userCmd) (any, error) {
		return affectedReply{b.localSubscribe(c.User, c.Channel)}, nil
	}))
	nb.HandleCommand(natsbroker.CmdUnsubscribeUser, handle(func(c userCmd) (any, error) {
		return affectedReply{b.localUnsubscribe(c.User, c.Channel)}, nil
	}))
	nb.HandleCommand(natsbroker.CmdDisconnectUser, handle(func(c userCmd) (any, error) {
		return affectedReply{b.localDisconnect(c.User, c.Code, c.Reason)}, nil
	}))
	nb.HandleCommand(natsbroker.CmdPresence, handle(func(c channelCmd) (any, error) {
		cl, err := b.localPresence(c.Channel, c.Max)
		return presenceReply{cl}, err
	}))
	nb.HandleCommand(natsbroker.CmdPresenceStats, handle(func(c channelCmd) (any, error) {
		users := userSet{}
		n := b.localStats(c.Channel, users)
		return statsReply{NumClients: n, Users: encodeUsers(users)}, nil
	}))
	nb.HandleCommand(natsbroker.CmdChannels, handle(func(c channelCmd) (any, error) {
		out := map[string]api.ChannelStats{}
		b.localChannels(api.Pattern(c.Pattern), out)
		return channelsReply{out}, nil
	}))
	nb.HandleCommand(natsbroker.CmdInfo, func(natsbroker.Command) ([]byte, error) {
		return json.Marshal(b.localInfo())
	})
}

// validator is a command body that checks itself: commands come over NATS, from whoever may
// publish on the command subject.
type validator interface{ valid() bool }

func (c userCmd) valid() bool {
	switch {
	case c.User == "" || len(c.User) > api.MaxUserLen || !utf8.ValidString(c.User):
		return false
	case c.Channel != "" && !routing.ValidChannel(c.Channel):
		return false
	case c.Code != 0 && !api.ValidCloseCode(c.Code):
		return false
	}
	return len(c.Reason) <= api.MaxReasonLen && utf8.ValidString(c.Reason)
}

func (c channelCmd) valid() bool {
	return (c.Channel == "" || routing.ValidChannel(c.Channel)) && len(c.Pattern) <= api.MaxPatternLen && c.Max >= 0
}

var errBadCommand = errors.New("invalid command body")

// handle adapts a typed command handler: decodes and checks the body, encodes the reply.
func handle[T validator](f func(T) (any, error)) natsbroker.CommandHandler {
	return func(cmd natsbroker.Command) ([]byte, error) {
		var c T
		if err := json.Unmarshal(cmd.Body, &c); err != nil || !c.valid() {
			return nil, errBadCommand
		}
		r, err := f(c)
		if err != nil {
			return nil, err
		}
		return json.Marshal(r)
	}
}

// async runs a typed command handler on a goroutine of its own, at most cmdWorkers at once
// (then on the command goroutine, which holds later commands back).
func (b *backend) async(f func(userCmd) (any, error)) natsbroker.AsyncCommandHandler {
	h := handle(f)
	return func(cmd natsbroker.Command, reply func([]byte, error)) {
		select {
		case b.cmdSlots <- struct{}{}:
		default:
			reply(h(cmd))
			return
		}
		go func() {
			defer func() { <-b.cmdSlots }()
			defer func() {
				if v := recover(); v != nil {
					b.s.log.Error("command handler panicked", zap.String("command", cmd.Name), zap.Any("panic", v), zap.Stack("stack"))
					reply(nil, errors.New("internal error"))
				}
			}()
			reply(h(cmd))
		}()
	}
}

// appendNotice appends {"type":typ,"channel":channel}; a valid channel needs no escaping.
func appendNotice(dst []byte, typ, channel string) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","channel":"`...)
	dst = append(dst, channel...)
	return append(dst, `"}`...)
}
