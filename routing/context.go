package routing

import (
	"encoding/json"
	"fmt"
)

// Context is what a handler sees of one message: the session, the decoded fields and reply
// helpers. Each worker reuses one Context, so neither it nor the slices it returns may be kept
// after the handler returns (copy what you need).
type Context struct {
	r     *Router
	sess  *Session
	msg   Message
	route *route
	typ   string // Type() of an unrouted message, made on demand
	wrote bool   // a reply was queued: flush when the session's batch is done
	held  bool   // the session has deferred replies: later ones wait behind them (see Defer)

	deferred *Deferred // handed out by Defer for this message
}

func (c *Context) reset() {
	c.route = nil
	c.typ = ""
	c.deferred = nil
}

// Session is the connection's session.
func (c *Context) Session() *Session { return c.sess }

// Router is the router running the handler (its Hub, Registry).
func (c *Context) Router() *Router { return c.r }

// Type is the message type.
func (c *Context) Type() string {
	if c.route != nil {
		return c.route.typ // the registered string: no allocation
	}
	if c.typ == "" {
		c.typ = string(c.msg.Type)
	}
	return c.typ
}

// ID is the raw JSON string token of the message's id, quotes included, or nil.
func (c *Context) ID() []byte { return c.msg.ID }

// IDString is the decoded id ("" when absent). It allocates.
func (c *Context) IDString() string {
	if c.msg.ID == nil {
		return ""
	}
	var s string
	if err := json.Unmarshal(c.msg.ID, &s); err != nil {
		return ""
	}
	return s
}

// Channel is the decoded channel field, nil when absent. It is not validated unless the
// Validation middleware ran; use NeedChannel to require a valid one.
func (c *Context) Channel() []byte { return c.msg.Channel }

// NeedChannel returns the channel, or an INVALID_MESSAGE *Error when it is absent or not a valid
// name (see ValidChannel).
func (c *Context) NeedChannel() ([]byte, error) {
	switch ch := c.msg.Channel; {
	case ch == nil:
		return nil, errChanRequired
	case !ValidChannel(ch):
		return nil, errChanInvalid
	default:
		return ch, nil
	}
}

// Token is the decoded token field (connect, refresh, a subscription token on subscribe), nil
// when absent. Like every field it is valid only until the handler returns; never log it.
func (c *Context) Token() []byte { return c.msg.Token }

// Method is the decoded method field (rpc), nil when absent.
func (c *Context) Method() []byte { return c.msg.Method }

// Data is the raw JSON text of the data field, nil when absent.
func (c *Context) Data() []byte { return c.msg.Data }

// Reply sends {"type":typ,"id":<request id>,"data":data} to the client. data must be valid JSON
// (or nil to leave it out); it is copied. Replies are flushed together after the handler. Once
// the connection is closing or closed the reply is dropped and ErrConnClosed returned.
func (c *Context) Reply(typ string, data []byte) error {
	buf := c.r.bufs.Get()
	buf.B = AppendReply(buf.B, typ, c.msg.ID, data)
	err := c.write(buf.B)
	c.r.bufs.Put(buf)
	return err
}

// ReplyJSON is Reply with data marshalled by encoding/json: convenient, but it allocates.
func (c *Context) ReplyJSON(typ string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("routing: reply %q: %w", typ, err)
	}
	return c.Reply(typ, data)
}

// Send sends msg, a complete reply the handler built (for shapes Reply does not make, such as
// {"type":"presence","id":…,"clients":[…]}); it should echo ID. Ordered and flushed like Reply.
func (c *Context) Send(msg []byte) error { return c.write(msg) }

// Error sends an error reply with code and msg, echoing the request id. Handlers usually return
// an *Error instead.
func (c *Context) Error(code Code, msg string) error {
	buf := c.r.bufs.Get()
	buf.B = AppendError(buf.B, c.msg.ID, code, msg)
	err := c.write(buf.B)
	c.r.bufs.Put(buf)
	return err
}

func (c *Context) write(p []byte) error {
	c.wrote = true
	if c.held {
		switch c.r.hold(c.sess, p) {
		case holdQueued:
			return nil
		case holdClosed:
			return ErrConnClosed
		}
		c.held = false // every deferred reply was answered: write directly again
	}
	if c.sess.conn.Send(p) != nil {
		return ErrConnClosed // the connection says why when it closes; nothing to add here
	}
	return nil
}
