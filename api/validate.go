package api

import (
	"unicode/utf8"

	"github.com/wsedge/wsedge/routing"
)

// Limits on request fields (besides the body size, -api-max-body).
const (
	MaxUserLen     = 1024 // bytes of a user id
	MaxReasonLen   = 123  // bytes of a close reason: a close frame payload is 125 bytes with the code
	MaxPatternLen  = 256  // bytes of a channels pattern
	MaxBroadcast   = 1024 // channels in one broadcast
	DisconnectCode = 4003 // close code of /api/disconnect when none is given (DESIGN: disconnected by the server API)
)

// DefaultValidChannel is the channel check of Config.ValidChannel when none
// is given: the JSON protocol's own rule (routing.ValidChannel). The server
// passes its own (namespaces, user-limited channels) when it mounts the API.
func DefaultValidChannel(name string) bool { return routing.ValidChannel([]byte(name)) }

// ValidCloseCode reports whether /api/disconnect may close connections with
// code: the application range 4000-4999, or one of the RFC 6455 codes a
// backend has a reason to send: 1000 normal, 1001 going away (reconnect
// elsewhere), 1008 policy violation, 1012 service restart (reconnect soon).
// The others describe protocol failures the backend did not see (1002,
// 1003, 1007, 1009, 1011), may never be sent (1005, 1006, 1015), or belong
// to registered libraries (3000-3999).
func ValidCloseCode(code int) bool {
	switch code {
	case 1000, 1001, 1008, 1012:
		return true
	}
	return code >= 4000 && code <= 4999
}

// validUser checks a user id: 1 to MaxUserLen bytes of valid UTF-8 (the
// decoder has already refused invalid UTF-8).
func validUser(u string) bool { return len(u) > 0 && len(u) <= MaxUserLen && utf8.ValidString(u) }

// Pattern selects channels in /api/channels: "*" matches any run of bytes
// (also empty, also ":" and "#"), "?" exactly one byte, every other byte
// itself; the whole name must match. "" matches every channel.
// Examples: "chat:*", "*#42", "room-??".
type Pattern string

// Match reports whether name matches p. It runs in O(len(p)*len(name)) at
// worst (one backtrack point, the last "*"), never exponentially.
func (p Pattern) Match(name string) bool {
	if p == "" {
		return true
	}
	pi, ni := 0, 0
	star, mark := -1, 0 // position after the last "*" and the name position it was tried at
	for ni < len(name) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi+1, ni
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == name[ni]):
			pi++
			ni++
		case star >= 0:
			mark++
			pi, ni = star, mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
