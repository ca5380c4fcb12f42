package server

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/wsedge/wsedge/perm"
	"github.com/wsedge/wsedge/proxy"
	"github.com/wsedge/wsedge/routing"
)

// Permissions on subscribe and publish (docs/auth.md, Namespaces): the
// server's handlers ask the policy first, then do what routing's built-in
// handlers do. A denial is PERMISSION_DENIED with the request's id, or
// UNAUTHORIZED exactly when the connection is anonymous and an identity is
// what it lacks (the namespace wants an authenticated connection, or the
// channel is limited to users). The connection stays open. A subscription
// token is verified on the worker; the backend (subscribe: proxy, publish:
// proxy) is asked without holding the worker, the reply keeping its place
// in the connection's order (routing.Deferred).

var (
	errNeedToken   = routing.NewError(routing.CodePermission, "a subscription token is required")
	errSubOther    = routing.NewError(routing.CodePermission, "the subscription token is for another user or channel")
	errBackendBusy = routing.NewError(routing.CodeOverloaded, "too many backend calls waiting; retry later")
	errBackendDown = routing.NewError(routing.CodeUnavailable, "the backend cannot be reached; retry later")
	errNoBackend   = routing.NewError(routing.CodeUnavailable, "no backend is configured to decide this")
)

// denials are the shared error replies of the policy's denials, one per
// decision and code: a denial costs no allocation.
var denials = func() (d [2][16]*routing.Error) {
	for i := range 16 {
		dec := perm.Decision(i)
		d[0][i] = routing.NewError(routing.CodePermission, dec.String())
		d[1][i] = routing.NewError(routing.CodeUnauthorized, dec.String())
	}
	return
}()

// denied is the error reply of a denial for a connection of user.
func denied(d perm.Decision, user string) *routing.Error {
	if d == perm.DenyInvalidChannel {
		return routing.NewError(routing.CodeInvalidMessage, d.String())
	}
	code := 0
	if user == "" && (d == perm.DenyAnonymous || d == perm.DenyNotListed) {
		code = 1
	}
	if int(d) < len(denials[code]) {
		return denials[code][d]
	}
	return routing.NewError(routing.CodePermission, d.String())
}

// handleSubscribe is subscribe with the namespace's rule.
func (a *idState) handleSubscribe(c *routing.Context) error {
	ch, err := c.NeedChannel()
	if err != nil {
		return err
	}
	sess := c.Session()
	user := sess.User()
	switch d := a.policy.Load().Subscribe(ch, user); d {
	case perm.Allow:
		return routing.Subscribe(c)
	case perm.NeedToken:
		return a.subscribeWithToken(c, ch, user)
	case perm.AskProxy:
		return a.ask(c, ch, false)
	default:
		a.m.denied(opSubscribe)
		return denied(d, user)
	}
}

// subscribeWithToken checks the subscription token (sub = the connection's
// user, channel = the channel) and subscribes.
func (a *idState) subscribeWithToken(c *routing.Context, ch []byte, user string) error {
	tok := c.Token()
	if len(tok) == 0 {
		a.m.denied(opSubscribe)
		return errNeedToken
	}
	v := a.verifier.Load()
	if v == nil {
		return errNeedToken
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.s.opts.JWTJWKSTimeout)
	defer cancel()
	_, err := v.VerifySubscription(ctx, string(tok), user, string(ch))
	a.m.result(viaSubscription, err)
	if err != nil {
		e := tokenError(err, errSubOther)
		if e.Code == routing.CodeUnauthorized { // the token, not the connection: a denial
			e = routing.NewError(routing.CodePermission, "subscription "+e.Message)
		}
		a.m.denied(opSubscribe)
		return e
	}
	return routing.Subscribe(c)
}

// handlePublish is publish with the namespace's rule.
func (a *idState) handlePublish(c *routing.Context) error {
	ch, err := c.NeedChannel()
	if err != nil {
		return err
	}
	sess := c.Session()
	user := sess.User()
	pol := a.policy.Load()
	d := pol.Publish(ch, user, false)
	if d == perm.DenyNotSubscribed { // publish: subscribers; only now look the subscription up
		d = pol.Publish(ch, user, sess.Subscribed(ch))
	}
	switch d {
	case perm.Allow:
		return routing.Publish(c)
	case perm.AskProxy:
		return a.ask(c, ch, true)
	default:
		a.m.denied(opPublish)
		return denied(d, user)
	}
}

// ask has the backend decide a subscribe or a publish (-proxy-subscribe-url,
// -proxy-publish-url) and then does it; the worker does not wait: the reply
// is deferred and keeps its place in the connection's order.
func (a *idState) ask(c *routing.Context, ch []byte, publish bool) error {
	if a.proxy == nil {
		return errNoBackend
	}
	sess := c.Session()
	req := &proxy.CallRequest{Client: sess.ClientID().String(), User: sess.User(), Info: sess.Info(), Channel: string(ch)}
	if publish {
		if data := c.Data(); data != nil {
			req.Data = append(json.RawMessage(nil), data...) // valid only during the handler
		}
	}
	d := c.Defer()
	done := func(err error) {
		if err == nil {
			err = a.apply(sess, req, publish)
		}
		answer(d, err, publish, &a.m)
	}
	var err error
	if publish {
		err = a.proxy.GoPublish(context.Background(), req, done)
	} else {
		err = a.proxy.GoSubscribe(context.Background(), req, done)
	}
	if err != nil {
		if errors.Is(err, proxy.ErrOverloaded) {
			return errBackendBusy // the router answers d with it
		}
		if errors.Is(err, proxy.ErrNotConfigured) {
			return errNoBackend
		}
		return errBackendDown
	}
	return nil
}

// apply does the subscribe or publish the backend allowed.
func (a *idState) apply(sess *routing.Session, req *proxy.CallRequest, publish bool) error {
	hub := a.s.router.Hub()
	if !publish {
		return hub.Subscribe(sess, []byte(req.Channel))
	}
	err := hub.Publish(req.Channel, req.Data, routing.PublishOptions{})
	var re *routing.Error
	if err != nil && !errors.As(err, &re) {
		return routing.NewError(routing.CodeUnavailable, "channel broker unavailable") // as routing.Publish answers
	}
	return err
}

// answer sends the deferred reply of an asked subscribe or publish.
func answer(d *routing.Deferred, err error, publish bool, m *idMetrics) {
	var denial *proxy.DeniedError
	var re *routing.Error
	switch {
	case err == nil:
		_ = d.Reply("ack", nil)
		return
	case errors.As(err, &denial):
		op := opSubscribe
		if publish {
			op = opPublish
		}
		m.denied(op)
		msg := denial.Message
		if msg == "" {
			msg = "the backend refused"
		}
		_ = d.Error(routing.CodePermission, msg)
		return
	case errors.As(err, &re):
		_ = d.Error(re.Code, re.Message)
		return
	case errors.Is(err, proxy.ErrOverloaded):
		_ = d.Error(errBackendBusy.Code, errBackendBusy.Message)
		return
	}
	_ = d.Error(errBackendDown.Code, errBackendDown.Message)
}
