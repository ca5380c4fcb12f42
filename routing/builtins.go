package routing

import (
	"unsafe"

	"github.com/wsedge/wsedge/codec"
)

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

// Publish sends {"type":"message","channel":…,"data":…} to every subscriber of the channel
// (the sender too, if subscribed) and then answers ack. The frame is encoded once and the same
// bytes are queued to every subscriber.
func Publish(c *Context) error {
	ch, err := c.NeedChannel()
	if err != nil {
		return err
	}
	buf := c.r.bufs.Get()
	buf.B = appendMessage(buf.B, ch, c.msg.Data)
	// The frame is shared by subscribers' write queues until written, so it is a fresh,
	// immutable allocation (the only one per publish), never a pooled buffer.
	frame := codec.AppendFrame(make([]byte, 0, codec.FrameSize(len(buf.B))), codec.OpText, true, buf.B)
	off := len(frame) - len(buf.B) + msgChannelOffset
	c.r.bufs.Put(buf)
	// The channel name inside the immutable frame is itself immutable: use it as the string
	// instead of allocating a copy.
	name := unsafe.String(&frame[off], len(ch))
	if err := c.r.broker.Publish(name, frame); err != nil {
		if e, ok := err.(*Error); ok {
			return e
		}
		return &Error{Code: CodeUnavailable, Message: errBrokerDown.Message, Err: err}
	}
	return c.Reply("ack", nil)
}
