// Package natsbroker connects the wsedge nodes of a cluster through NATS (-broker
// nats://host:port). It is the routing.Cluster of a node whose subscriptions and users stay in
// its own routing.Hub, and it carries commands between nodes.
//
// Nodes speak a wire format of their own (wire.go, docs/cluster.md): a small versioned binary
// header (kind, origin node, target, excluded client, room for more fields and flags) followed
// by the payload, the client message exactly as subscribers receive it. Channel messages
// travel on "wsedge.ch.<channel>", user messages on "wsedge.user.<user>" ('.' and other
// subject-special bytes escaped %XX, so every target is one subject token), commands on
// "wsedge.cmd". A backend publishes plain JSON data on a channel subject; a first byte that
// JSON text can never start with tells the two apart.
//
// Publish sends a node's publication to the others; the connection is opened with no-echo, so
// a node never receives its own messages back and its local receivers (served by the Hub
// directly) get each message exactly once. Received messages are handed to the node's
// Deliver on one goroutine per target hash (a channel's messages stay in order), framed once
// per node, in place in the received bytes: no copy and no re-encoding. The node listens only
// to the subjects of targets it has receivers for (Interest), subscribing before the first
// subscribe is acknowledged and unsubscribing in the background when the last one leaves.
// While NATS is unreachable, Publish fails with an error wrapping ErrUnavailable, nats.go
// reconnects forever, and subscriptions come back by themselves. Close drains.
package natsbroker
