// Package routing turns the text messages of /ws into handler calls and replies.
//
// The event loop hands each complete message to Router.Dispatch, which copies it into a pooled
// buffer, appends it to the connection's Session mailbox and schedules the session on a fixed,
// bounded worker pool (at most once at a time, so one connection's replies keep their order
// while connections run in parallel; past Options.Queue messages the loop answers OVERLOADED at
// once). A worker decodes the message with a validating, allocation-free JSON scanner
// (Message.Decode), looks up the Handler registered for its type with Router.Handle, runs it
// through the middleware given to Router.Use (Logging, Recovery, Validation are built in),
// writes the replies with hand-written appenders and flushes them with one Flush. Errors are
// replies with protocol codes (Error, AppendError); none closes the connection. Channels live in
// a Hub of local subscriptions behind the Broker interface: a publish encodes its frame once and
// queues the same bytes to every subscriber. The built-in types (ping, echo, subscribe,
// unsubscribe, publish) are ordinary handlers added by RegisterBuiltins.
package routing
