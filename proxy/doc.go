// Package proxy makes the node's calls to the application backend over HTTP:
// connect (who is this connection?), subscribe and publish (may it?), and RPC
// (a client's call to the backend).
//
// One Client holds one pooled keep-alive http.Client for all of them, and one
// admission bound: at most MaxConcurrent calls in flight and MaxQueue more
// waiting for a slot; a call past that is refused at once with ErrOverloaded,
// so a reconnect storm of thousands of connects never piles onto the backend.
// Every call is bounded by Timeout (waiting for a slot included) and by its
// context, and reads at most MaxBody bytes of the answer.
//
// The blocking methods (Connect, Subscribe, Publish, RPC) are for worker
// goroutines. From an event loop use the Go* forms: they decide admission at
// once (returning ErrOverloaded without calling done) and otherwise call done
// later on a goroutine of their own; the number of such goroutines is
// bounded by MaxConcurrent + MaxQueue.
//
// Nothing here logs a request: connect requests carry cookies and tokens.
package proxy
