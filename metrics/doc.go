// Package metrics declares wsedge's Prometheus metrics in one place.
//
// The server increments them on its hot paths, so every metric used per
// message is a plain counter resolved once at start-up (an atomic add, no
// lock, no allocation); labelled families are used only on rare events
// (refusals, closes, timeouts), where a label lookup is affordable.
package metrics
