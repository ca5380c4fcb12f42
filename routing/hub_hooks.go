package routing

// OnInterest installs fn, called when a channel gets its first local subscriber (subscribed
// true) and when it loses its last one (false, also when that subscriber's session closes).
// A distributed Broker uses it to listen to exactly the channels this node has subscribers
// for. fn nil removes the hook; a later call replaces it.
//
// fn runs after the hub's and the session's locks are released, on the goroutine that changed
// the subscription: a worker for subscribe and unsubscribe, possibly an event loop for a
// session that closes. So fn(channel, true) may block briefly (the subscribe is acknowledged
// after it returns), fn(channel, false) must not block. Calls for one channel can run
// concurrently and in either order: treat them as hints and read Subscribers(channel) for the
// current state.
func (h *Hub) OnInterest(fn func(channel string, subscribed bool)) {
	if fn == nil {
		h.interest.Store(nil)
		return
	}
	h.interest.Store(&fn)
}

func (h *Hub) notifyInterest(channel string, subscribed bool) {
	if fn := h.interest.Load(); fn != nil {
		(*fn)(channel, subscribed)
	}
}
