// Package natsbroker shares the channels of several wsedge nodes through NATS (-broker
// nats://host:port): it is the routing.Broker of a node whose subscriptions stay in its own
// routing.Hub. Publish sends the frame routing already encoded ({"type":"message",...} as one
// unmasked text frame) on subject "wsedge.ch.<channel>" ('.' and other subject-special bytes
// escaped %XX, so every channel is one subject token) and queues the same bytes to the node's
// own subscribers at once; the connection is opened with no-echo, so the node never receives
// its own messages back and every subscriber gets each message exactly once, local ones without
// a NATS round trip. Frames from other nodes are checked to be one well-formed text frame and
// handed to Hub.Deliver as received: no re-encoding and no copy on the receiving node, one
// shared buffer for all its subscribers, a channel's messages in order. With the hub's interest
// hook a node subscribes only the subjects of channels that have local subscribers, before the
// first subscribe is acknowledged, and unsubscribes in the background when the last one
// leaves; without it, it subscribes every channel and drops what nobody here wants. While NATS
// is unreachable, Publish fails with an error wrapping ErrUnavailable (answered UNAVAILABLE),
// nats.go reconnects forever, and subscriptions come back by themselves. Close drains.
package natsbroker
