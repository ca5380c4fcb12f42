package server

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/auth"
	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/proxy"
	"github.com/wsedge/wsedge/routing"
)

// Identity at the upgrade. Once gobwas accepted the request and the edge
// checks passed, a connection that must prove who it is waits, holding its
// 101 answer and reading nothing further (fHold), while its token is
// verified on the auth pool, the connect proxy answers, or the
// Authenticator decides. The answer comes back to the loop through Conn.Do:
// the 101 goes out and the input held meanwhile is handed over
// (Redeliver), or the request is refused in plain HTTP. The handshake
// timeout still runs; a connection it closes meanwhile ignores the answer.

// Connection flags of identity (wsConn.flags; loop only).
const (
	fHold   uint8 = 1 << iota // an identity check is under way: input is held, not read
	fFirst                    // no message yet: connect is accepted as this one
	fNeedID                   // no identity: connect must come first, within -handshake-timeout
)

// via is where an identity check comes from (the via label of
// wsedge_auth_checks_total).
type via uint8

const (
	viaToken         via = iota // a token at the upgrade
	viaConnect                  // the first message connect
	viaProxy                    // the connect proxy
	viaAuthenticator            // Options.Authenticator
	viaRefresh                  // refresh
	viaSubscription             // a subscription token
	numVias
)

var viaNames = [numVias]string{"token", "connect", "proxy", "authenticator", "refresh", "subscription"}

// authenticate gives an accepted /ws or /echo upgrade its identity, on the
// loop: at once when it needs none, else it starts the check and holds the
// connection. head is the request head, resp the 101 answer (both valid only
// during the call).
func (w *wsConn) authenticate(head, resp []byte, client netip.Addr) {
	s := w.srv()
	a := s.id
	var kept http.Header
	h := scanHead(head, a.keep, &kept)
	if !a.on {
		w.opened(resp, client, nil, kept, 0)
		return
	}
	var j *authJob
	if a.authn == nil && a.verifier.Load() != nil {
		// The token and the 101 share the pooled job's buffer; the token
		// is a string over it until the job is recycled (the verifier keeps
		// nothing of it: claims are decoded copies).
		j = newTokenJob()
		if j.buf = h.appendToken(j.buf[:0]); len(j.buf) == 0 {
			j.recycle()
			j = nil
		}
	}
	switch {
	case a.authn != nil:
		j = &authJob{via: viaAuthenticator, token: h.token(), head: append([]byte(nil), head...)}
	case j != nil:
		j.via = viaToken
		n := len(j.buf)
		j.buf = append(j.buf, resp...)
		j.token, j.resp = bytesView(j.buf[:n]), j.buf[n:]
	case s.opts.ProxyConnectURL != "" && a.proxy != nil:
		j = &authJob{via: viaProxy}
		j.preq = &proxy.ConnectRequest{
			ClientIP: client.String(), Path: string(h.path()), Query: string(h.query()),
			Headers: proxy.ConnectHeaders{Cookie: string(h.cookie), Authorization: string(h.authz),
				Origin: string(h.origin), UserAgent: string(h.ua)},
		}
	case w.ep == epWS:
		// No token: 101 now; the first message may be connect, and must be
		// unless anonymous connections are allowed.
		fl := fFirst
		if !a.anon {
			fl |= fNeedID
		}
		w.opened(resp, client, nil, kept, fl)
		return
	case a.anon:
		w.opened(resp, client, nil, kept, 0)
		return
	default: // /echo has no connect message: its token comes with the upgrade
		w.refuse(refTokenMissing, 0)
		return
	}
	j.w, j.client, j.kept = w, client, kept
	if j.resp == nil {
		j.resp = append([]byte(nil), resp...)
	}
	if d := s.opts.HandshakeTimeout; d > 0 {
		j.until = time.Now().Add(time.Duration(w.accepted() + int64(d) - w.conn().Now()))
	}
	if r := j.start(); r != refNone {
		j.recycle()
		w.refuse(r, 1)
		return
	}
	w.flags |= fHold
}

// start hands the check to its goroutine; refAuthOverloaded when the pool
// or the backend client has no room.
func (j *authJob) start() refusal {
	a := j.w.srv().id
	if j.via != viaProxy {
		run := j.runF
		if run == nil {
			run = j.run
		}
		if !a.pool.submit(run) {
			a.m.result(j.via, errOverloaded)
			return refAuthOverloaded
		}
		return refNone
	}
	ctx, cancel := j.context()
	err := a.proxy.GoConnect(ctx, j.preq, func(r proxy.ConnectResult, err error) {
		cancel()
		j.ident, j.err = Identity{User: r.User, Info: r.Info, Channels: r.Channels}, err
		a.m.result(viaProxy, err)
		j.done()
	})
	if err != nil {
		cancel()
		a.m.result(viaProxy, err)
		if errors.Is(err, proxy.ErrOverloaded) {
			return refAuthOverloaded
		}
		return refAuthUnavailable
	}
	return refNone
}

// errOverloaded counts a check refused for want of room.
var errOverloaded = errors.New("identity checks overloaded")

// context bounds a check by the handshake deadline.
func (j *authJob) context() (context.Context, context.CancelFunc) {
	if j.until.IsZero() {
		return context.WithCancel(context.Background())
	}
	return context.WithDeadline(context.Background(), j.until)
}

// run is the check itself, on the auth pool.
func (j *authJob) run() {
	a := j.w.srv().id
	switch j.via {
	case viaAuthenticator:
		ctx, cancel := j.context()
		j.ident, j.err = a.authn.Authenticate(ctx, j.upgradeInfo())
		cancel()
		if j.err == nil && j.ident.Info != nil && !validInfo(j.ident.Info) {
			a.s.log.Warn("Authenticator returned an info that is not one JSON value: dropped", zap.String("user", j.ident.User))
			j.ident.Info = nil
		}
	default:
		v := a.verifier.Load()
		if v == nil { // a reload took the keys away
			j.err = &auth.Error{Kind: auth.ErrInvalid, Reason: "no token key is configured"}
			break
		}
		// Only a key-set fetch waits: a context with the handshake deadline
		// (an allocation and a timer per check) only when one may happen.
		ctx := context.Background()
		if v.Fetches() {
			var cancel context.CancelFunc
			ctx, cancel = j.context()
			defer cancel()
		}
		var c auth.Claims
		c, j.err = v.Verify(ctx, j.token)
		j.ident = Identity{User: c.User, Info: c.Info, Expires: c.Expires, Channels: c.Channels}
	}
	a.m.result(j.via, j.err)
	j.done()
}

// upgradeInfo is what the Authenticator sees, read from the copied head.
func (j *authJob) upgradeInfo() *UpgradeInfo {
	h := scanHead(j.head, nil, nil)
	return &UpgradeInfo{ClientIP: j.client, Path: string(h.path()), Query: string(h.query()),
		Token: j.token, Header: parseHeaders(j.head)}
}

// validInfo: info reaches clients (presence) inside JSON text frames.
func validInfo(b []byte) bool { return utf8.Valid(b) && routing.ValidJSON(b) }

// done runs on the checking goroutine once the answer is known: it makes
// the server-side subscriptions of the identity's channels (which may wait
// for the cluster: never on a loop) and hands the connection back to its
// loop.
func (j *authJob) done() {
	a := j.w.srv().id
	c := j.w.conn()
	if j.via == viaConnect {
		if j.err == nil {
			if err := a.setIdentity(j.sess, &j.ident); err == nil {
				a.subscribeAll(j.sess, j.ident.Channels)
			}
		}
		c.Do(j.connectDone)
		return
	}
	if j.err != nil || len(j.ident.Channels) == 0 {
		done := j.upgradeDoneF
		if done == nil {
			done = j.upgradeDone
		}
		c.Do(done)
		return
	}
	j.pooled = false // the loop and this goroutine both use it from here on: left to the GC
	// The session must exist before it subscribes: the loop opens it (still
	// holding the input), then the channels, then the input.
	j.opened = make(chan struct{})
	c.Do(j.openHeld)
	<-j.opened
	if j.sess != nil {
		a.subscribeAll(j.sess, j.ident.Channels)
	}
	c.Do(j.release)
}

// upgradeDone answers the held upgrade: 101, or the refusal; the job is
// done with then. Loop.
func (j *authJob) upgradeDone() {
	defer j.recycle()
	w := j.w
	if w.conn().Closed() || w.state != stHandshake {
		return // the handshake timeout or a drain ended it meanwhile
	}
	w.flags &^= fHold
	if j.err != nil {
		r, retry := refusalOf(j.err)
		w.srv().log.Debug("upgrade refused by the identity check", zap.Stringer("reason", r), zap.String("peer", w.conn().RemoteAddr().String()), zap.Error(j.err))
		w.refuse(r, retry)
		return
	}
	if w.opened(j.resp, j.client, &j.ident, j.kept, 0) {
		w.flushAndRedeliver()
	}
}

// openHeld opens the connection but keeps its input held while done
// subscribes its channels. Loop.
func (j *authJob) openHeld() {
	defer close(j.opened)
	w := j.w
	if w.conn().Closed() || w.state != stHandshake {
		return
	}
	if w.opened(j.resp, j.client, &j.ident, j.kept, 0) {
		j.sess = w.sess
		_ = w.out().Flush()
	}
}

// release hands over the input held while the channels were subscribed. Loop.
func (j *authJob) release() {
	w := j.w
	if w.conn().Closed() || w.state != stOpen || w.sess != j.sess {
		return
	}
	w.flags &^= fHold
	w.flushAndRedeliver()
}

// connectDone answers a connect message: connected, or close. Loop.
func (j *authJob) connectDone() {
	w := j.w
	if w.conn().Closed() || w.state != stOpen || w.sess != j.sess {
		return
	}
	w.flags &^= fHold | fNeedID
	if j.err != nil {
		code, reason := connectFailure(j.err)
		w.fail(code, reason)
		return
	}
	_ = w.Send(appendConnected(nil, j.id, j.sess))
	w.rearm(w.conn().Now()) // the identity's end, if it has one
	w.flushAndRedeliver()
}

// flushAndRedeliver writes what the answer queued and hands the held input
// up. Loop.
func (w *wsConn) flushAndRedeliver() {
	_ = w.out().Flush()
	if w.tls() != nil {
		w.tls().Redeliver()
		return
	}
	w.conn().Redeliver()
}

// refusalOf maps a failed check at the upgrade to its HTTP refusal and
// Retry-After.
func refusalOf(err error) (refusal, int) {
	var refused *proxy.RefusedError
	switch {
	case errors.Is(err, auth.ErrExpired):
		return refTokenExpired, 0
	case errors.Is(err, auth.ErrInvalid):
		return refTokenInvalid, 0
	case errors.As(err, &refused) && refused.Status == http.StatusForbidden, errors.Is(err, ErrForbidden):
		return refForbidden, 0
	case refused != nil, errors.Is(err, ErrUnauthorized):
		return refUnauthorized, 0
	case errors.Is(err, proxy.ErrOverloaded):
		return refAuthOverloaded, 1
	}
	return refAuthUnavailable, 1 // key server or backend down, slow, answering garbage
}

// connectFailure is the close code and reason of a failed connect.
func connectFailure(err error) (code codec.CloseCode, reason string) {
	switch {
	case errors.Is(err, auth.ErrExpired):
		return closeUnauthorized, "token expired"
	case errors.Is(err, auth.ErrUnavailable):
		return closeTryAgainLater, "identity check unavailable, retry later"
	}
	return closeUnauthorized, "invalid token"
}

// setIdentity attaches id to the session (its user, info and end).
func (a *idState) setIdentity(sess *routing.Session, id *Identity) error {
	if id.User == "" {
		return nil // an anonymous connection the backend or the Authenticator accepted
	}
	var exp int64
	if !id.Expires.IsZero() {
		exp = id.Expires.Unix()
	}
	return a.s.router.Hub().SetIdentityUntil(sess, id.User, id.Info, exp)
}

// subscribeAll makes the server-side subscriptions of an identity's
// channels (a token's channels claim, the connect proxy's channels). The
// issuer granted them: no permission check, but the name and the
// per-connection cap apply. Not on a loop: a first subscriber of a channel
// waits for the cluster.
func (a *idState) subscribeAll(sess *routing.Session, channels []string) {
	hub := a.s.router.Hub()
	for _, ch := range channels {
		if err := hub.Subscribe(sess, []byte(ch)); err != nil {
			a.s.log.Warn("a channel of the connection's identity was not subscribed", zap.String("user", sess.User()),
				zap.String("channel", RedactURL(ch)), zap.Error(err))
		}
	}
}
