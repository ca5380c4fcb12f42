// Package server assembles a wsedge node from its parts: the event loops of
// package poller, the admission checks of package limits, the gobwas/ws
// upgrade, the frame codec and the message router.
//
// It owns the WebSocket life of a connection: admission at accept (per-IP
// rate and caps, before a byte is read), the upgrade request (refusals as
// plain HTTP answers), the open connection (codec -> /echo or router), the
// close handshake, and the deadlines the timer wheel enforces (handshake,
// idle, read, heartbeat pings). Options holds the whole node's configuration.
package server
