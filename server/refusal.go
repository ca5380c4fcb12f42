package server

import "github.com/wsedge/wsedge/limits"

// refusal is why a connection is answered with an HTTP error (or closed)
// instead of upgraded: a limit (package limits decides those) or a request
// that is wrong. Its label is the reason of
// wsedge_connections_rejected_total; its number keys the log sampler.
type refusal uint8

const (
	refNone refusal = iota
	// The request is wrong: the HTTP layer's own vocabulary.
	refBadRequest       // malformed HTTP or upgrade request, head too large: 400
	refVersion          // Sec-WebSocket-Version is not 13: 426
	refNotWebSocket     // a plain GET on a WebSocket path: 426
	refNotFound         // unknown path: 404
	refMethod           // a method other than GET or HEAD on a file of the site: 405
	refHandshakeTimeout // the request did not arrive in time: closed
	// A limit said no.
	refOrigin      // 403
	refIPRate      // 429 with Retry-After
	refIPCap       // 429
	refGlobalCap   // 503
	refDraining    // 503
	refDescriptors // 503 with Retry-After
	// Identity said no (docs/auth.md).
	refTokenInvalid    // a token at the upgrade that is not valid: 401
	refTokenExpired    // a token at the upgrade past its exp: 401
	refTokenMissing    // no token on /echo, which has no connect message: 401
	refUnauthorized    // the connect proxy (or an Authenticator) answered 401
	refForbidden       // the connect proxy (or an Authenticator) answered 403
	refAuthUnavailable // the key server, the connect proxy or the Authenticator failed: 503 with Retry-After
	refAuthOverloaded  // -auth-queue or -proxy-queue full: 503 with Retry-After
)

// byLimit maps a limit's reason to its refusal.
var byLimit = map[limits.Reason]refusal{
	limits.ReasonOrigin: refOrigin, limits.ReasonIPRate: refIPRate, limits.ReasonIPCap: refIPCap,
	limits.ReasonGlobalCap: refGlobalCap, limits.ReasonDraining: refDraining, limits.ReasonDescriptors: refDescriptors,
}

// limitRefusal is the refusal for limit reason r (refNone for ReasonNone).
func limitRefusal(r limits.Reason) refusal { return byLimit[r] }

// refusalInfo is a refusal's label, HTTP status and short body.
var refusalInfo = [...]struct {
	label  string
	status int
	text   string
}{
	refNone:             {"", 101, ""},
	refBadRequest:       {"bad_request", 400, "bad request"},
	refVersion:          {"version", 426, "unsupported websocket version"},
	refNotWebSocket:     {"not_websocket", 426, "websocket upgrade required"},
	refNotFound:         {"not_found", 404, "not found"},
	refMethod:           {"method", 405, "method not allowed"},
	refHandshakeTimeout: {"handshake_timeout", 408, "request timeout"},
	refOrigin:           {string(limits.ReasonOrigin), 403, "origin not allowed"},
	refIPRate:           {string(limits.ReasonIPRate), 429, "too many connections from this address, retry later"},
	refIPCap:            {string(limits.ReasonIPCap), 429, "too many connections from this address"},
	refGlobalCap:        {string(limits.ReasonGlobalCap), 503, "server at capacity"},
	refDraining:         {string(limits.ReasonDraining), 503, "server shutting down"},
	refDescriptors:      {string(limits.ReasonDescriptors), 503, "server out of resources, retry later"},
	refTokenInvalid:     {"token_invalid", 401, "invalid token"},
	refTokenExpired:     {"token_expired", 401, "token expired"},
	refTokenMissing:     {"token_missing", 401, "a token is required"},
	refUnauthorized:     {"unauthorized", 401, "unauthorized"},
	refForbidden:        {"forbidden", 403, "forbidden"},
	refAuthUnavailable:  {"auth_unavailable", 503, "identity check unavailable, retry later"},
	refAuthOverloaded:   {"auth_overloaded", 503, "too many connections being checked, retry later"},
}

func (r refusal) String() string { return refusalInfo[r].label }
func (r refusal) status() int    { return refusalInfo[r].status }
func (r refusal) text() string   { return refusalInfo[r].text }

// refusals lists every refusal, for tests and metric documentation.
func refusals() []refusal {
	var all []refusal
	for r := refBadRequest; int(r) < len(refusalInfo); r++ {
		all = append(all, r)
	}
	return all
}
