package server

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsedge/wsedge/auth"
	"github.com/wsedge/wsedge/proxy"
)

// idMetrics count identity checks and permission denials (docs/metrics.md).
type idMetrics struct {
	checks  [numVias][numResults]prometheus.Counter
	denials [2]prometheus.Counter // subscribe, publish
}

// Outcomes of an identity check: the result label of wsedge_auth_checks_total.
const (
	resOK          = iota // accepted
	resInvalid            // a bad token, a bad first message, refused by the backend or the Authenticator
	resExpired            // a correctly signed token past exp
	resWrongUser          // a refresh or subscription token for another user or channel
	resUnavailable        // the key server, the backend or the Authenticator failed
	resOverloaded         // no room in -auth-queue or -proxy-queue: refused at once
	numResults
)

var resultNames = [numResults]string{"ok", "invalid", "expired", "wrong_user", "unavailable", "overloaded"}

const (
	opSubscribe = 0
	opPublish   = 1
)

func (a *idState) registerMetrics(r prometheus.Registerer) {
	checks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsedge_auth_checks_total",
		Help: "Identity checks by where the identity came from (token, connect, proxy, authenticator, refresh, subscription) and result (ok, invalid, expired, wrong_user, unavailable, overloaded).",
	}, []string{"via", "result"})
	for v := range numVias {
		for res := range numResults {
			a.m.checks[v][res] = checks.WithLabelValues(viaNames[v], resultNames[res])
		}
	}
	denials := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsedge_permission_denied_total",
		Help: "subscribe and publish requests refused by the namespaces' rules or the backend (PERMISSION_DENIED or UNAUTHORIZED), by op.",
	}, []string{"op"})
	a.m.denials[opSubscribe] = denials.WithLabelValues("subscribe")
	a.m.denials[opPublish] = denials.WithLabelValues("publish")
	r.MustRegister(checks, denials, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wsedge_auth_pending",
		Help: "Identity checks queued or running on the auth pool (-auth-workers + -auth-queue at most).",
	}, func() float64 { return float64(a.pool.pending.Load()) }))
}

// result counts a check's outcome.
func (m *idMetrics) result(v via, err error) {
	res := resOK
	switch {
	case err == nil:
	case errors.Is(err, errOverloaded), errors.Is(err, proxy.ErrOverloaded):
		res = resOverloaded
	case errors.Is(err, auth.ErrExpired):
		res = resExpired
	case errors.Is(err, auth.ErrWrongUser):
		res = resWrongUser
	case errors.Is(err, auth.ErrInvalid), errors.Is(err, errNoConnect), isRefused(err),
		errors.Is(err, ErrUnauthorized), errors.Is(err, ErrForbidden):
		res = resInvalid
	default:
		res = resUnavailable
	}
	if c := m.checks[v][res]; c != nil {
		c.Inc()
	}
}

// isRefused reports whether err is the backend's refusal. Its own function:
// errors.As takes the target's address, which puts it on the heap, and in
// result that allocation would come with every check, successful ones too.
func isRefused(err error) bool {
	var refused *proxy.RefusedError
	return errors.As(err, &refused)
}

func (m *idMetrics) denied(op int) {
	if c := m.denials[op]; c != nil {
		c.Inc()
	}
}
