package proxy

import (
	"errors"
	"fmt"
)

var (
	// ErrUnavailable: the backend timed out, was unreachable, answered 5xx,
	// an unexpected status, garbage or a body over the limit. A connect
	// answers 503, an RPC UNAVAILABLE.
	ErrUnavailable = errors.New("backend unavailable")
	// ErrOverloaded: MaxConcurrent calls in flight and MaxQueue waiting;
	// refused without contacting the backend. A connect answers 503 with
	// Retry-After.
	ErrOverloaded = errors.New("backend call queue full")
	// ErrNotConfigured: the call's URL is not set.
	ErrNotConfigured = errors.New("backend URL not configured")
)

// RefusedError is a connect the backend said no to (401 or 403): the
// status passes through to the client.
type RefusedError struct{ Status int }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("backend refused the connection (%d)", e.Status)
}

// DeniedError is a subscribe or publish the backend refused (401, 403, or
// 200 with an error object). Code and Message come from the backend when
// it gave them.
type DeniedError struct {
	Status  int
	Code    string
	Message string
}

func (e *DeniedError) Error() string {
	if e.Message != "" {
		return "backend denied: " + e.Message
	}
	return fmt.Sprintf("backend denied (%d)", e.Status)
}

// unavailableError keeps the cause for the log while matching ErrUnavailable.
type unavailableError struct {
	what  string
	cause error
}

func (e *unavailableError) Error() string {
	if e.cause == nil {
		return "backend unavailable: " + e.what
	}
	return "backend unavailable: " + e.what + ": " + e.cause.Error()
}

func (e *unavailableError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrUnavailable}
	}
	return []error{ErrUnavailable, e.cause}
}

func unavailable(what string, cause error) error { return &unavailableError{what, cause} }
