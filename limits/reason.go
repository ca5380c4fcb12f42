package limits

// Reason names the limit that refused a connection before (or instead of)
// the WebSocket upgrade. Only limits live here; a request that is simply
// wrong (malformed, wrong version, unknown path, too slow) is the HTTP
// layer's business (package server). The string form is the value of the
// `reason` label of wsedge_connections_rejected_total.
type Reason string

// The limit reasons. ReasonNone means "admitted".
const (
	ReasonNone        Reason = ""
	ReasonOrigin      Reason = "origin"      // Origin not allowed (-allowed-origins)
	ReasonIPRate      Reason = "ip_rate"     // per-IP connection rate exceeded
	ReasonIPCap       Reason = "ip_cap"      // per-IP connection cap reached
	ReasonGlobalCap   Reason = "global_cap"  // global connection cap reached
	ReasonDraining    Reason = "draining"    // server is shutting down
	ReasonDescriptors Reason = "descriptors" // the process is out of file descriptors
)

// Reasons returns every limit reason, in a fixed order.
func Reasons() []Reason {
	return []Reason{ReasonOrigin, ReasonIPRate, ReasonIPCap, ReasonGlobalCap, ReasonDraining, ReasonDescriptors}
}

// String returns the metric label value.
func (r Reason) String() string { return string(r) }
