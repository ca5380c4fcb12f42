package routing

import "unsafe"

// RegisterBuiltins registers the protocol's types (ping, echo, subscribe, unsubscribe, publish)
// with r.Handle, exactly as a user registers their own.
func RegisterBuiltins(r *Router) {
	r.Handle("ping", Ping)
	r.Handle("echo", Echo)
	r.Handle("subscribe", Subscribe)
	r.Handle("unsubscribe", Unsubscribe)
	r.Handle("publish", Publish)
}

// BuiltinRules are the Validation rules of the built-in types.
func BuiltinRules() Rules {
	return Rules{NeedChannel: []string{"subscribe", "unsubscribe", "publish"}}
}

// Ping answers {"type":"pong","id":…}.
func Ping(c *Context) error { return c.Reply("pong", nil) }

// Echo answers {"type":"echo","id":…,"data":…} with data exactly as received.
func Echo(c *Context) error { return c.Reply("echo", c.Data()) }

// Subscribe adds the session to the channel and answers ack.
func Subscribe(c *Context) error {
	ch, err := c.NeedChannel()
	if err != nil {
		return err
	}
	if err := c.r.hub.Subscribe(c.sess, ch); err != nil {
		return err
	}
	return c.Reply("ack", nil)
}

// Unsubscribe removes the session from the channel and answers ack.
func Unsubscribe(c *Context) error {
	ch, err := c.NeedChannel()
	if err != nil {
		return err
	}
	if err := c.r.hub.Unsubscribe(c.sess, ch); err != nil {
		return err
	}
	return c.Reply("ack", nil)
}

// Publish sends {"type":"message","channel":…,"data":…} to every subscriber of the channel on
// every node (the sender too, if subscribed) and then answers ack (Hub.Publish: the message is
// built and framed once per node). When the cluster cannot take it, nobody gets it and the
// answer is UNAVAILABLE (or the cluster's own *Error code).
func Publish(c *Context) error {
	ch, err := c.NeedChannel()
	if err != nil {
		return err
	}
	// Hub.Publish keeps nothing of the name it is given: a view of the worker's buffer will do.
	name := unsafe.String(unsafe.SliceData(ch), len(ch))
	if err := c.r.hub.Publish(name, c.msg.Data, PublishOptions{}); err != nil {
		if e, ok := err.(*Error); ok {
			return e
		}
		return &Error{Code: CodeUnavailable, Message: errBrokerDown.Message, Err: err}
	}
	return c.Reply("ack", nil)
}
