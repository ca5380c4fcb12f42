package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
)

// Kind classifies an error a Node returns; it decides the HTTP status.
type Kind uint8

// Kinds of Node errors.
const (
	KindInternal    Kind = iota // 500 INTERNAL: a bug; the message is logged, not sent
	KindUnavailable             // 503 UNAVAILABLE: broker or nodes unreachable or too slow
	KindNotFound                // 404 NOT_FOUND
	KindInvalid                 // 400 INVALID_REQUEST: the node refuses the arguments (e.g. presence off in the namespace)
	KindTooLarge                // 413 TOO_LARGE: e.g. data over the broker's max_payload
)

// Error is an error of a Node method. Message is sent to the backend; Err,
// the cause, is only logged.
type Error struct {
	Kind    Kind
	Message string
	Err     error
}

func (e *Error) Error() string {
	s := e.Message
	if s == "" {
		s = e.Kind.code()
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Unavailable returns a KindUnavailable error: the node or the broker cannot
// do the call now, and nothing was done that the method's contract hides.
func Unavailable(msg string, cause error) *Error {
	return &Error{Kind: KindUnavailable, Message: msg, Err: cause}
}

// NotFound returns a KindNotFound error.
func NotFound(msg string) *Error { return &Error{Kind: KindNotFound, Message: msg} }

// Invalid returns a KindInvalid error: arguments the node refuses.
func Invalid(msg string) *Error { return &Error{Kind: KindInvalid, Message: msg} }

// TooLarge returns a KindTooLarge error.
func TooLarge(msg string) *Error { return &Error{Kind: KindTooLarge, Message: msg} }

// Error codes of the server API, sent as error.code.
const (
	CodeInvalidJSON      = "INVALID_JSON"       // 400: the body is not one JSON object
	CodeInvalidRequest   = "INVALID_REQUEST"    // 400: missing, unknown or wrong fields, bad channel or code
	CodeUnauthorized     = "UNAUTHORIZED"       // 401: no or wrong API key
	CodeForbidden        = "FORBIDDEN"          // 403: cross-site request to the keyless admin mount
	CodeUnknownMethod    = "UNKNOWN_METHOD"     // 404: no such /api/ method
	CodeNotFound         = "NOT_FOUND"          // 404: from the node
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED" // 405: not POST
	CodeTooLarge         = "TOO_LARGE"          // 413: body over -api-max-body, or too large for the broker
	CodeUnsupportedMedia = "UNSUPPORTED_MEDIA"  // 415: not application/json on the keyless admin mount
	CodeInternal         = "INTERNAL"           // 500
	CodeUnavailable      = "UNAVAILABLE"        // 503
)

func (k Kind) code() string {
	switch k {
	case KindUnavailable:
		return CodeUnavailable
	case KindNotFound:
		return CodeNotFound
	case KindInvalid:
		return CodeInvalidRequest
	case KindTooLarge:
		return CodeTooLarge
	}
	return CodeInternal
}

func (k Kind) status() int {
	switch k {
	case KindUnavailable:
		return http.StatusServiceUnavailable
	case KindNotFound:
		return http.StatusNotFound
	case KindInvalid:
		return http.StatusBadRequest
	case KindTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// failure is one error answer.
type failure struct {
	status    int
	code      string
	message   string
	published int  // broadcast: channels published before the failure
	partial   bool // published is meaningful
	cause     error
}

// nodeFailure maps a Node error to its answer.
func nodeFailure(err error) failure {
	var e *Error
	switch {
	case errors.As(err, &e):
		msg := e.Message
		if msg == "" {
			msg = http.StatusText(e.Kind.status())
		}
		if e.Kind == KindInternal {
			msg = "internal error"
		}
		return failure{status: e.Kind.status(), code: e.Kind.code(), message: msg, cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return failure{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: "timed out", cause: err}
	case errors.Is(err, context.Canceled):
		return failure{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: "canceled", cause: err}
	}
	return failure{status: http.StatusInternalServerError, code: CodeInternal, message: "internal error", cause: err}
}

// appendError writes {"error":{"code":…,"message":…[,"published":N]}}.
func appendError(b []byte, f failure) []byte {
	b = append(b, `{"error":{"code":"`...)
	b = append(b, f.code...) // codes are plain ASCII constants
	b = append(b, `","message":`...)
	b = appendString(b, f.message)
	if f.partial {
		b = append(b, `,"published":`...)
		b = strconv.AppendInt(b, int64(f.published), 10)
	}
	return append(b, "}}\n"...)
}
