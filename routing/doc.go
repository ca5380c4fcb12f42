// Package routing turns the text messages of /ws into handler calls and replies.
//
// The event loop hands each complete message to Router.Dispatch, which copies it into a pooled
// buffer, appends it to the connection's Session mailbox and schedules the session on a fixed,
// bounded worker pool (at most once at a time, so one connection's replies keep their order
// while connections run in parallel; past Options.Queue messages the loop answers
// OVERLOADED). A worker decodes the message with a validating, allocation-free JSON scanner
// (Message.Decode), looks up the Handler registered for its type with Router.Handle, runs it
// through the middleware given to Router.Use (Logging, Recovery, Validation are built in),
// writes the replies with hand-written appenders and flushes them with one Flush. Errors are
// replies with protocol codes (Error, AppendError); none closes the connection. Whatever the
// event loop decides without a worker (OVERLOADED, RATE_LIMITED through Refuse, a policy close
// through CloseAfterReplies) keeps its place among the session's replies. Each session has a
// fair share of the queue (Options.PerConn).
//
// routing speaks payloads, never frames: a Conn sends text messages (Send) and messages
// prepared once for many connections (SendPrepared with a codec.Prepared, framed once per
// node). Channels and users live in a Hub: Hub.Publish builds {"type":"message",...} once and
// queues the same bytes to every local subscriber; with a Cluster (Hub.SetCluster, e.g.
// natsbroker) publications also reach the other nodes and theirs arrive through Hub.Deliver.
// The built-in types (ping, echo, subscribe, unsubscribe, publish) are ordinary handlers added
// by RegisterBuiltins.
package routing
