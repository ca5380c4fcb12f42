package api

import (
	"context"
	"encoding/json"
)

// Node is what the server API needs of a wsedge node. The single-node
// server and the cluster (-broker) implement it; the API handler only
// decodes, checks and answers.
//
// Every method gets a context that ends at the API call timeout (-api-timeout)
// or when the caller goes away. A method that returns an error must leave
// nothing done that the error does not say: the "all or nothing" line of each
// method below is what the HTTP answer promises the backend. Errors are
// *Error values (Unavailable, NotFound, Invalid, TooLarge) or a context error;
// anything else is answered 500 INTERNAL and logged.
//
// Arguments are already checked when a method runs: channel names passed the
// handler's channel check (Config.ValidChannel), users are 1 to MaxUserLen
// bytes of valid UTF-8, data is one valid JSON value in valid UTF-8, and a
// disconnect code is allowed by ValidCloseCode. data and the channels slice
// alias buffers the handler reuses: a Node must copy them if it keeps them
// after returning.
type Node interface {
	// Publish sends data to every subscriber of channel on every node, once
	// each: a client receives {"type":"message","channel":…,"data":…}.
	// All or nothing: nil means the message was delivered to the local
	// subscribers' queues and handed to the broker for the other nodes; an
	// error means no subscriber anywhere will receive it (with a broker,
	// the node checks the broker can take it before delivering locally).
	// Delivery after nil is at most once (NATS core), as for a client's
	// publish.
	Publish(ctx context.Context, channel string, data json.RawMessage) error

	// Broadcast publishes data to each channel, in the order given, with
	// Publish's semantics per channel. It returns how many channels were
	// published: on error, exactly channels[:published] were, and the rest
	// were not (the handler tells the backend which).
	Broadcast(ctx context.Context, channels []string, data json.RawMessage) (published int, err error)

	// Subscribe subscribes every connection of user, on every node, to
	// channel (server-side subscription: each gets {"type":"subscribed",
	// "channel":…}); Unsubscribe undoes it ({"type":"unsubscribed",…}).
	// Connections opened later are not affected. Idempotent: a connection
	// already (un)subscribed counts and gets no second notice.
	// Connections counts the user's connections the command reached, over
	// all nodes. nil means every node applied it; an error means some nodes
	// may have applied it and others not, so the backend may retry (safe,
	// since the command is idempotent).
	Subscribe(ctx context.Context, user, channel string) (Affected, error)
	Unsubscribe(ctx context.Context, user, channel string) (Affected, error)

	// Disconnect closes every connection of user on every node with code
	// and reason in the close frame. A user without connections is not an
	// error (Affected.Connections is 0). All or nothing as Subscribe.
	Disconnect(ctx context.Context, user string, code int, reason string) (Affected, error)

	// Presence lists the clients subscribed to channel on every node.
	// PresenceStats counts them (num_users counts distinct users; clients
	// without a user are counted in num_clients only). A channel whose
	// namespace has no presence is Invalid. Read only: on error nothing is
	// returned (never a list missing the nodes that did not answer).
	Presence(ctx context.Context, channel string) ([]Client, error)
	PresenceStats(ctx context.Context, channel string) (PresenceStats, error)

	// Channels lists the channels with at least one subscriber on any node
	// whose name matches pattern (Pattern.Match; "" matches all), with
	// their subscriber counts summed over the nodes. Read only, all or
	// nothing as Presence.
	Channels(ctx context.Context, pattern Pattern) (map[string]ChannelStats, error)

	// Info describes every node of the cluster (the node itself alone
	// without a broker). Read only, all or nothing as Presence.
	Info(ctx context.Context) ([]NodeInfo, error)
}

// Affected is the result of subscribe, unsubscribe and disconnect.
type Affected struct {
	Connections int `json:"connections"` // the user's connections the command reached
}

// Client is one entry of a channel's presence.
type Client struct {
	Client string          `json:"client"`         // connection id, unique in the cluster
	User   string          `json:"user"`           // "" for an anonymous connection
	Info   json.RawMessage `json:"info,omitempty"` // the token's info claim; absent when none
}

// PresenceStats counts a channel's presence.
type PresenceStats struct {
	NumClients int `json:"num_clients"`
	NumUsers   int `json:"num_users"`
}

// ChannelStats describes one channel in the channels result.
type ChannelStats struct {
	NumClients int `json:"num_clients"` // subscribed connections, all nodes
}

// NodeInfo describes one node in the info result.
type NodeInfo struct {
	Name             string `json:"name"`              // unique in the cluster (host name and port, or a flag)
	NumClients       int    `json:"num_clients"`       // open WebSocket connections
	NumSubscriptions int    `json:"num_subscriptions"` // subscriptions summed over connections
	Uptime           int64  `json:"uptime"`            // whole seconds since the node started
}
