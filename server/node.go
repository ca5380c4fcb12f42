package server

import (
	"context"
	"encoding/json"
	"errors"
	"sort"

	"github.com/wsedge/wsedge/api"
	"github.com/wsedge/wsedge/natsbroker"
	"github.com/wsedge/wsedge/routing"
)

// APINode is the server API's view of this node (api.Node): cmd/wsedge serves it on
// -api-addr, and on the admin listener for the admin page.
func (s *Server) APINode() api.Node { return apiNode{s.be} }

// apiNode implements api.Node over the backend side of the server; with a broker every
// call covers every node (onCluster).
type apiNode struct{ b *backend }

// ValidChannel is the node's channel rule (the API checks names with it): the grammar of
// docs/auth.md, the one client subscribes and publishes go through.
func (apiNode) ValidChannel(name string) bool { return routing.ValidChannel(name) }

// Publish hands the message to the broker first: when it cannot take it, nobody gets it.
func (n apiNode) Publish(ctx context.Context, channel string, data json.RawMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return apiError(n.b.s.router.Hub().Publish(channel, data, routing.PublishOptions{}))
}

func (n apiNode) Broadcast(ctx context.Context, channels []string, data json.RawMessage) (int, error) {
	for i, ch := range channels {
		if err := n.Publish(ctx, ch, data); err != nil {
			return i, err
		}
	}
	return len(channels), nil
}

func (n apiNode) Subscribe(ctx context.Context, user, channel string) (api.Affected, error) {
	return n.userCommand(ctx, natsbroker.CmdSubscribeUser, userCmd{User: user, Channel: channel},
		func() int { return n.b.localSubscribe(user, channel) })
}

func (n apiNode) Unsubscribe(ctx context.Context, user, channel string) (api.Affected, error) {
	return n.userCommand(ctx, natsbroker.CmdUnsubscribeUser, userCmd{User: user, Channel: channel},
		func() int { return n.b.localUnsubscribe(user, channel) })
}

func (n apiNode) Disconnect(ctx context.Context, user string, code int, reason string) (api.Affected, error) {
	return n.userCommand(ctx, natsbroker.CmdDisconnectUser, userCmd{User: user, Code: code, Reason: reason},
		func() int { return n.b.localDisconnect(user, code, reason) })
}

// userCommand runs a command on a user's connections on every node and sums their counts.
func (n apiNode) userCommand(ctx context.Context, name string, body userCmd, local func() int) (api.Affected, error) {
	var total int
	err := n.b.onCluster(ctx, name, body, func() error { total += local(); return nil },
		func(r natsbroker.Reply) error {
			var a affectedReply
			if err := json.Unmarshal(r.Data, &a); err != nil {
				return err
			}
			total += a.Connections
			return nil
		})
	if err != nil {
		return api.Affected{}, err
	}
	return api.Affected{Connections: total}, nil
}

func (n apiNode) Presence(ctx context.Context, channel string) ([]api.Client, error) {
	if err := n.b.presenceOn(channel); err != nil {
		return nil, err
	}
	max := n.b.s.opts.PresenceMax
	var out []api.Client
	err := n.b.onCluster(ctx, natsbroker.CmdPresence, channelCmd{Channel: channel, Max: max},
		func() (err error) {
			out, err = n.b.localPresence(channel, max)
			return tooLarge(err)
		},
		func(r natsbroker.Reply) error {
			var p presenceReply
			if err := json.Unmarshal(r.Data, &p); err != nil {
				return err
			}
			out = append(out, p.Clients...)
			return nil
		})
	if err == nil && max > 0 && len(out) > max {
		err = api.TooLarge(tooMany(max).Error())
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Client < out[j].Client })
	return out, nil
}

func (n apiNode) PresenceStats(ctx context.Context, channel string) (api.PresenceStats, error) {
	if err := n.b.presenceOn(channel); err != nil {
		return api.PresenceStats{}, err
	}
	users := userSet{}
	clients := 0
	err := n.b.onCluster(ctx, natsbroker.CmdPresenceStats, channelCmd{Channel: channel},
		func() error { clients += n.b.localStats(channel, users); return nil },
		func(r natsbroker.Reply) error {
			var st statsReply
			if err := json.Unmarshal(r.Data, &st); err != nil {
				return err
			}
			clients += st.NumClients
			return decodeUsers(st.Users, users)
		})
	if err != nil {
		return api.PresenceStats{}, err
	}
	return api.PresenceStats{NumClients: clients, NumUsers: len(users)}, nil
}

func (n apiNode) Channels(ctx context.Context, p api.Pattern) (map[string]api.ChannelStats, error) {
	out := map[string]api.ChannelStats{}
	err := n.b.onCluster(ctx, natsbroker.CmdChannels, channelCmd{Pattern: string(p)},
		func() error { n.b.localChannels(p, out); return nil },
		func(r natsbroker.Reply) error {
			var c channelsReply
			if err := json.Unmarshal(r.Data, &c); err != nil {
				return err
			}
			for name, st := range c.Channels {
				if !routing.ValidChannel(name) || st.NumClients < 0 {
					return errors.New("invalid channel entry")
				}
				sum := out[name]
				sum.NumClients += st.NumClients
				out[name] = sum
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (n apiNode) Info(ctx context.Context) ([]api.NodeInfo, error) {
	var out []api.NodeInfo
	err := n.b.onCluster(ctx, natsbroker.CmdInfo, struct{}{},
		func() error { out = append(out, n.b.localInfo()); return nil },
		func(r natsbroker.Reply) error {
			var ni api.NodeInfo
			if err := json.Unmarshal(r.Data, &ni); err != nil {
				return err
			}
			out = append(out, ni)
			return nil
		})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// presenceOn refuses presence for a channel whose namespace does not have it (400).
func (b *backend) presenceOn(channel string) error {
	ns, ok := b.policy().Namespace([]byte(channel))
	switch {
	case !ok:
		return api.Invalid("the channel's namespace is not declared")
	case !ns.Presence:
		return api.Invalid("presence is off in the channel's namespace (presence: true in the config file)")
	}
	return nil
}

// tooLarge turns a local presence over the bound into the API's 413.
func tooLarge(err error) error {
	if err == nil {
		return nil
	}
	return api.TooLarge(err.Error())
}

// apiError maps a publish failure to the API's answer: too large for the broker is 413, any
// other broker failure 503 (nobody got the message).
func apiError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, natsbroker.ErrTooLarge):
		return api.TooLarge("message too large for the channel broker (NATS max_payload)")
	}
	var re *routing.Error
	if errors.As(err, &re) && re.Code == routing.CodeInvalidMessage {
		return api.Invalid(re.Message)
	}
	return api.Unavailable("channel broker unavailable", err)
}
