package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/auth"
	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/perm"
	"github.com/wsedge/wsedge/proxy"
	"github.com/wsedge/wsedge/routing"
)

// Identity on the node (docs/auth.md): who a connection is comes from a
// token at the upgrade (Authorization: Bearer or ?token=), the first message
// connect, the connect proxy, or an Authenticator; it is checked off the
// event loops (a bounded pool, or the backend client's own goroutines) while
// the connection waits without reading further. Permissions (perm.Policy)
// decide subscribe and publish on the worker pool.

// Identity is who a connection is, as a token, the connect proxy or an
// Authenticator says.
type Identity struct {
	User     string          // "" = an anonymous connection, accepted
	Info     json.RawMessage // any JSON value, or nil; shown in presence, sent to the backend
	Expires  time.Time       // the connection is closed (4001) then unless refreshed; zero = never
	Channels []string        // server-side subscriptions made at connect
}

// UpgradeInfo is what an Authenticator sees of a /ws (or /echo) upgrade
// request.
type UpgradeInfo struct {
	ClientIP netip.Addr  // the client (from X-Forwarded-For behind a trusted proxy)
	Path     string      // the request path
	Query    string      // the raw query string (it may hold a token: never log it)
	Token    string      // from Authorization: Bearer or the token query parameter; "" when none
	Header   http.Header // every header of the request, canonical names
}

// Authenticator decides who a connection is, for Go code that embeds wsedge
// (Options.Authenticator). Authenticate runs off the event loops, on the
// pool of -auth-workers, bounded by ctx (the handshake timeout). An
// Identity with an empty User accepts an anonymous connection. Errors:
// ErrUnauthorized answers 401, ErrForbidden 403, any other 503 with
// Retry-After.
type Authenticator interface {
	Authenticate(ctx context.Context, req *UpgradeInfo) (Identity, error)
}

// AuthenticatorFunc is an Authenticator as a plain function.
type AuthenticatorFunc func(ctx context.Context, req *UpgradeInfo) (Identity, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, req *UpgradeInfo) (Identity, error) {
	return f(ctx, req)
}

// Errors an Authenticator returns to refuse a connection.
var (
	ErrUnauthorized = errors.New("wsedge: unauthorized")
	ErrForbidden    = errors.New("wsedge: forbidden")
)

// Close codes of identity.
const (
	closeUnauthorized  codec.CloseCode = 4001 // no valid token in time, an invalid connect, or exp passed
	closeTryAgainLater codec.CloseCode = 1013 // the check could not run now (overloaded, key server down)
)

// idState is the node's identity machinery. The verifier and the policy are
// swapped whole on SIGHUP (Server.ReloadAuth); the rest is fixed at New.
type idState struct {
	s      *Server
	on     bool         // identities required (AuthOn) unless anon
	anon   bool         // -allow-anonymous
	leeway atomic.Int64 // -jwt-leeway: a connection ends at exp plus this, as its token does
	keep   []string     // KeepHeaders, canonical

	verifier atomic.Pointer[auth.Verifier] // nil without a JWT key
	policy   atomic.Pointer[perm.Policy]
	proxy    *proxy.Client // nil without a backend URL
	authn    Authenticator
	pool     *authPool
	m        idMetrics
}

// newIdentity builds the verifier, the policy, the backend client and the
// pool from opts, and registers the identity message types.
func (s *Server) newIdentity() error {
	o := &s.opts
	a := &idState{s: s, on: o.AuthOn(), anon: o.AllowAnonymous, authn: o.Authenticator}
	a.leeway.Store(int64(o.JWTLeeway))
	for _, h := range o.KeepHeaders {
		a.keep = append(a.keep, textproto.CanonicalMIMEHeaderKey(h))
	}
	v, pol, err := buildAuth(&o.AuthOptions, s.log)
	if err != nil {
		return err
	}
	a.verifier.Store(v)
	a.policy.Store(pol)
	if a.proxy, err = s.newProxy(); err != nil {
		if v != nil {
			v.Close()
		}
		return err
	}
	a.pool = newAuthPool(o.AuthWorkers, o.AuthQueue)
	a.registerMetrics(s.m.Registry)
	s.id = a
	s.router.Handle("connect", a.handleConnect)
	s.router.Handle("refresh", a.handleRefresh)
	s.router.Handle("subscribe", a.handleSubscribe)
	s.router.Handle("publish", a.handlePublish)
	return nil
}

// buildAuth makes the token verifier (nil without a key) and the policy.
func buildAuth(o *AuthOptions, log *zap.Logger) (*auth.Verifier, *perm.Policy, error) {
	pol, err := o.Policy()
	if err != nil {
		return nil, nil, fmt.Errorf("namespaces: %w", err)
	}
	cfg, ok, err := o.AuthConfig()
	if err != nil || !ok {
		return nil, pol, err
	}
	cfg.Log = log
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		return nil, nil, err
	}
	return v, pol, nil
}

// closeIdentity stops the pool and the key set refresher.
func (a *idState) close() {
	if a == nil {
		return
	}
	a.pool.close()
	if v := a.verifier.Load(); v != nil {
		v.Close()
	}
	if a.proxy != nil {
		a.proxy.Close()
	}
}

// Policy is the permission policy (namespaces) in use.
func (s *Server) Policy() *perm.Policy { return s.id.policy.Load() }

// Verifier is the token verifier in use; nil without a JWT key.
func (s *Server) Verifier() *auth.Verifier { return s.id.verifier.Load() }

// ReloadAuth swaps in the namespaces and token keys of o (SIGHUP): a new
// Policy and Verifier, built and checked before anything changes, so a bad
// file leaves the old ones in place. Connections keep their identities and
// subscriptions; the next checks use the new rules. Turning identities on
// or off, and the backend URLs, need a restart.
func (s *Server) ReloadAuth(o AuthOptions) error {
	a := s.id
	if o.AuthOn() != a.on {
		return errors.New("turning identities on or off needs a restart")
	}
	if errs := o.ValidateAuth(); len(errs) > 0 {
		return errors.Join(errs...)
	}
	v, pol, err := buildAuth(&o, s.log)
	if err != nil {
		return err
	}
	a.policy.Store(pol)
	a.leeway.Store(int64(o.JWTLeeway))
	if old := a.verifier.Swap(v); old != nil {
		old.Close() // checks under way finish with its keys
	}
	return nil
}

// Headers is the upgrade request's headers a /ws session kept
// (Options.KeepHeaders), nil when none were asked for or sent.
func Headers(sess *routing.Session) http.Header {
	h, _ := sess.Get(keptHeadersKey)
	hh, _ := h.(http.Header)
	return hh
}

// keptHeadersKey is the session metadata key of the kept headers.
const keptHeadersKey = "wsedge.headers"
