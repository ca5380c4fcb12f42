package server

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/wsedge/wsedge/auth"
	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

// The messages of identity: connect (the first message, for browsers that
// cannot set headers on a WebSocket), refresh, and the end of an identity on
// the timer wheel.

// errHold ends a Feed after a message that put the connection on hold: the
// bytes after it stay unconsumed until the check answers.
var errHold = errors.New("hold")

// first looks at the first message of a /ws connection that has no
// identity yet, on the loop. A connect with a token goes to the auth pool
// and holds the connection; anything else is an ordinary first message of
// an anonymous connection, or, where an identity is required, closes it
// with 4001. handled says the message is taken care of (err then ends the
// Feed).
func (w *wsConn) first(op codec.OpCode, p []byte) (handled bool, err error) {
	s := w.srv()
	w.flags &^= fFirst
	var m routing.Message // the fields alias p: nothing is allocated for a plain token
	isConnect := op == codec.OpText && m.Decode(p) == nil && string(m.Type) == "connect"
	if !isConnect {
		if w.flags&fNeedID == 0 {
			return false, nil
		}
		s.id.m.result(viaConnect, errNoConnect)
		w.fail(closeUnauthorized, "the first message must be connect")
		return true, errStop
	}
	if len(m.Token) == 0 {
		s.id.m.result(viaConnect, errNoConnect)
		w.fail(closeUnauthorized, "connect needs a token")
		return true, errStop
	}
	j := &authJob{w: w, sess: w.sess, via: viaConnect, token: string(m.Token)}
	if m.ID != nil {
		j.id = append([]byte(nil), m.ID...)
	}
	if !s.id.pool.submit(j.run) {
		s.id.m.result(viaConnect, errOverloaded)
		w.fail(closeTryAgainLater, "too many connections being checked, retry later")
		return true, errStop
	}
	w.flags |= fHold
	return true, errHold
}

// held takes input that arrives while an identity check is under way: it
// stays unconsumed (the poller keeps it) up to the bound of one request
// head and one message; a client that sends more is cut off. Loop.
func (w *wsConn) held(buf []byte) int {
	s := w.srv()
	limit := s.opts.MaxHeaderBytes + 14
	if m := s.opts.MaxMessageSize; m > 0 {
		limit += int(min(m, 1<<30))
	} else {
		limit += 1 << 20
	}
	if len(buf) <= limit {
		return 0
	}
	if w.state == stHandshake {
		w.refuse(refBadRequest, 0)
	} else {
		w.fail(codec.ClosePolicyViolation, "too much data while the identity is checked")
	}
	return len(buf)
}

// errNoConnect counts a first message that was not a usable connect.
var errNoConnect = errors.New("no connect")

// appendConnected appends {"type":"connected","id":…,"client":…,"user":…}.
func appendConnected(dst, id []byte, sess *routing.Session) []byte {
	dst = append(dst, `{"type":"connected"`...)
	if id != nil {
		dst = append(dst, `,"id":`...)
		dst = append(dst, id...)
	}
	dst = append(dst, `,"client":"`...)
	dst = sess.ClientID().Append(dst) // hex digits and '-'
	user, _ := json.Marshal(sess.User())
	dst = append(dst, `","user":`...)
	dst = append(dst, user...)
	return append(dst, '}')
}

var (
	errIdentityOff  = routing.NewError(routing.CodeInvalidMessage, "this node takes no tokens (identity is off)")
	errConnectLate  = routing.NewError(routing.CodeInvalidMessage, "connect is accepted only as the first message of a connection that gave no token at the upgrade")
	errNoToken      = routing.NewError(routing.CodeInvalidMessage, "token is required")
	errRefreshAnon  = routing.NewError(routing.CodeUnauthorized, "refresh needs an identified connection (connect first)")
	errRefreshOther = routing.NewError(routing.CodePermission, "the refresh token is for another user; the old expiry stands")
	errTokenInvalid = routing.NewError(routing.CodeUnauthorized, "invalid token")
	errTokenExpired = routing.NewError(routing.CodeUnauthorized, "token expired")
	errKeysDown     = routing.NewError(routing.CodeUnavailable, "the token keys cannot be fetched; retry later")
)

// handleConnect answers a connect that is not a connection's first message
// (the loop takes the first one).
func (a *idState) handleConnect(c *routing.Context) error {
	if a.verifier.Load() == nil {
		return errIdentityOff
	}
	return errConnectLate
}

// handleRefresh is refresh: a new token of the same user moves the end of
// the connection's identity; another user's is PERMISSION_DENIED and the old
// end stands. On a worker: the signature check is CPU, never on a loop.
func (a *idState) handleRefresh(c *routing.Context) error {
	v := a.verifier.Load()
	if v == nil {
		return errIdentityOff
	}
	sess := c.Session()
	user := sess.User()
	switch {
	case user == "":
		return errRefreshAnon
	case len(c.Token()) == 0:
		return errNoToken
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.s.opts.JWTJWKSTimeout)
	defer cancel()
	claims, err := v.VerifyRefresh(ctx, string(c.Token()), user)
	a.m.result(viaRefresh, err)
	if err != nil {
		return tokenError(err, errRefreshOther)
	}
	var exp int64
	if !claims.Expires.IsZero() {
		exp = claims.Expires.Unix()
	}
	if err := sess.Refresh(user, exp); err != nil {
		return err
	}
	if w, ok := sess.Conn().(*wsConn); ok {
		// The wheel entry may sit at the old end, later than the new one.
		w.conn().Do(func() {
			if !w.conn().Closed() && w.state == stOpen {
				w.rearm(w.conn().Now())
			}
		})
	}
	return c.Reply("ack", nil)
}

// tokenError maps a verifier's error to the client's error reply.
func tokenError(err error, wrongUser *routing.Error) *routing.Error {
	switch {
	case errors.Is(err, auth.ErrWrongUser):
		return wrongUser
	case errors.Is(err, auth.ErrExpired):
		return errTokenExpired
	case errors.Is(err, auth.ErrUnavailable):
		return errKeysDown
	}
	return errTokenInvalid
}

// identityEnd is the loop time at which the connection's identity ends (its
// token's exp plus -jwt-leeway, the tolerance it was verified with), 0 when
// it has none. Loop.
func (w *wsConn) identityEnd(now int64) int64 {
	if w.sess == nil {
		return 0
	}
	exp := w.sess.Expires()
	if exp == 0 {
		return 0
	}
	end := exp*int64(time.Second) + w.srv().id.leeway.Load()
	return max(now+end-time.Now().UnixNano(), 1)
}

// connectDeadline is the loop time by which a connection that must send
// connect has to have sent it (from the upgrade), 0 when it need not. Loop.
func (w *wsConn) connectDeadline(now int64) int64 {
	d := w.srv().opts.HandshakeTimeout
	if w.flags&fNeedID == 0 || d <= 0 || w.sess == nil {
		return 0
	}
	return max(now+int64(d)-int64(time.Since(w.sess.ConnectedAt())), 1)
}

// identityTimer enforces the connect deadline and the identity's end when
// the connection's timer fires; true when it closed the connection. Loop.
func (w *wsConn) identityTimer(now int64) bool {
	s := w.srv()
	if at := w.connectDeadline(now); at != 0 && now >= at {
		s.m.Timeouts.WithLabelValues("connect").Inc()
		s.id.m.result(viaConnect, errNoConnect)
		w.fail(closeUnauthorized, "no connect in time")
		return true
	}
	if at := w.identityEnd(now); at != 0 && now >= at {
		s.m.Timeouts.WithLabelValues("token").Inc()
		w.closeWith(closeUnauthorized, "token expired", now+int64(s.opts.CloseTimeout))
		return true
	}
	return false
}
