package limits

// Reason names why a connection was refused before (or instead of) the
// WebSocket upgrade. Its string form is the value of the `reason` label of
// wsedge_connections_rejected_total, so it is a small closed set.
type Reason string

// The refusal reasons. ReasonNone means "admitted".
const (
	ReasonNone             Reason = ""
	ReasonBadRequest       Reason = "bad_request"       // malformed HTTP / upgrade request
	ReasonVersion          Reason = "version"           // Sec-WebSocket-Version is not 13
	ReasonOrigin           Reason = "origin"            // Origin not allowed
	ReasonIPRate           Reason = "ip_rate"           // per-IP connection rate exceeded
	ReasonIPCap            Reason = "ip_cap"            // per-IP connection cap reached
	ReasonGlobalCap        Reason = "global_cap"        // global connection cap reached
	ReasonDraining         Reason = "draining"          // server is shutting down
	ReasonHandshakeTimeout Reason = "handshake_timeout" // upgrade request incomplete in time
	ReasonNotFound         Reason = "not_found"         // unknown path
	ReasonNotWebSocket     Reason = "not_websocket"     // plain GET on a WebSocket path
	ReasonDescriptors      Reason = "descriptors"       // the process is out of file descriptors
)

// numReasons is the number of refusal reasons (ReasonNone excluded); it sizes
// per-reason arrays such as the Sampler's.
const numReasons = 11

// Reasons returns every refusal reason, in a fixed order, so that a metrics
// vector can pre-create all its label values (a scrape then shows zeros
// instead of missing series).
func Reasons() []Reason {
	return []Reason{
		ReasonBadRequest, ReasonVersion, ReasonOrigin, ReasonIPRate, ReasonIPCap,
		ReasonGlobalCap, ReasonDraining, ReasonHandshakeTimeout, ReasonNotFound, ReasonNotWebSocket,
		ReasonDescriptors,
	}
}

// index maps a reason to [0, numReasons); unknown reasons (and ReasonNone)
// return -1.
func (r Reason) index() int {
	switch r {
	case ReasonBadRequest:
		return 0
	case ReasonVersion:
		return 1
	case ReasonOrigin:
		return 2
	case ReasonIPRate:
		return 3
	case ReasonIPCap:
		return 4
	case ReasonGlobalCap:
		return 5
	case ReasonDraining:
		return 6
	case ReasonHandshakeTimeout:
		return 7
	case ReasonNotFound:
		return 8
	case ReasonNotWebSocket:
		return 9
	case ReasonDescriptors:
		return 10
	}
	return -1
}

// String returns the metric label value.
func (r Reason) String() string { return string(r) }

// Status is the HTTP status code the refusal is answered with (README,
// "Refusals before the upgrade"). ReasonNone returns 101 (the upgrade);
// an unknown reason returns 500.
//
// ReasonHandshakeTimeout returns 408 Request Timeout: the request never
// completed, so the server may send that (or simply close).
// ReasonVersion and ReasonNotWebSocket are 426 Upgrade Required; the version
// answer must also carry "Sec-WebSocket-Version: 13". ReasonIPRate is 429 and
// carries Retry-After.
func (r Reason) Status() int {
	switch r {
	case ReasonNone:
		return 101
	case ReasonBadRequest:
		return 400
	case ReasonVersion, ReasonNotWebSocket:
		return 426
	case ReasonOrigin:
		return 403
	case ReasonNotFound:
		return 404
	case ReasonHandshakeTimeout:
		return 408
	case ReasonIPRate, ReasonIPCap:
		return 429
	case ReasonGlobalCap, ReasonDraining, ReasonDescriptors:
		return 503
	}
	return 500
}

// Text is the short plain-text body of the refusal answer.
func (r Reason) Text() string {
	switch r {
	case ReasonBadRequest:
		return "bad request"
	case ReasonVersion:
		return "unsupported websocket version"
	case ReasonOrigin:
		return "origin not allowed"
	case ReasonIPRate:
		return "too many connections from this address, retry later"
	case ReasonIPCap:
		return "too many connections from this address"
	case ReasonGlobalCap:
		return "server at capacity"
	case ReasonDraining:
		return "server shutting down"
	case ReasonHandshakeTimeout:
		return "request timeout"
	case ReasonNotFound:
		return "not found"
	case ReasonNotWebSocket:
		return "websocket upgrade required"
	case ReasonDescriptors:
		return "server out of resources, retry later"
	}
	return "internal error"
}
