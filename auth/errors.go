package auth

import "errors"

// The kinds of refusal. Every error Verify returns matches exactly one of
// them with errors.Is.
var (
	// ErrInvalid: malformed, forged, wrong algorithm or key, wrong audience
	// or issuer, not valid yet, missing sub, too large.
	ErrInvalid = errors.New("invalid token")
	// ErrExpired: a correctly signed token whose exp has passed (beyond the leeway).
	ErrExpired = errors.New("token expired")
	// ErrUnavailable: the token names a JWKS key that cannot be looked up
	// because the key server is down, slow or answering garbage.
	ErrUnavailable = errors.New("key server unavailable")
	// ErrWrongUser: a refresh or subscription token whose sub is not the
	// connection's user, or a subscription token for another channel.
	ErrWrongUser = errors.New("token is for another user or channel")
)

// Error is a refusal with its kind and a short reason fit for a log line.
type Error struct {
	Kind   error  // ErrInvalid, ErrExpired, ErrUnavailable or ErrWrongUser
	Reason string // never contains the token
	Cause  error  // the library's or the network's error, may be nil
}

func (e *Error) Error() string {
	s := e.Kind.Error() + ": " + e.Reason
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap lets errors.Is match the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

func invalid(reason string, cause error) error {
	return &Error{Kind: ErrInvalid, Reason: reason, Cause: cause}
}

func unavailable(reason string, cause error) error {
	return &Error{Kind: ErrUnavailable, Reason: reason, Cause: cause}
}
