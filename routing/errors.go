package routing

// Code is an error code of the JSON protocol, sent as error.code in an error reply.
type Code string

// The error codes of the protocol (README.md, JSON protocol). None of them closes the connection.
const (
	CodeInvalidJSON    Code = "INVALID_JSON"      // the message is not well-formed JSON
	CodeInvalidMessage Code = "INVALID_MESSAGE"   // well-formed JSON with missing or wrong fields
	CodeUnknownType    Code = "UNKNOWN_TYPE"      // no handler for the message's type
	CodeUnauthorized   Code = "UNAUTHORIZED"      // the request needs an identity the connection lacks
	CodePermission     Code = "PERMISSION_DENIED" // the connection's identity does not allow it
	CodeRateLimited    Code = "RATE_LIMITED"      // the connection sends too fast (decided by the server)
	CodeOverloaded     Code = "OVERLOADED"        // the worker queue is full; the message was dropped
	CodeUnavailable    Code = "UNAVAILABLE"       // the broker behind channels is unreachable
	CodeInternal       Code = "INTERNAL"          // a handler failed or panicked
)

// Error is an error with a protocol code. A handler that returns an *Error (or an error wrapping
// one) gets an error reply with that code and message; any other error becomes INTERNAL, with a
// generic message so that internals do not leak to clients.
type Error struct {
	Code    Code
	Message string // human readable, sent to the client; empty means a generic text for Code
	Err     error  // optional cause, logged but never sent
}

// NewError returns an *Error with the given code and client-facing message.
func NewError(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.text()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// text is the message sent to the client: never empty: every error reply carries a message.
func (e *Error) text() string {
	if e.Message != "" {
		return e.Message
	}
	return defaultMessage(e.Code)
}

func defaultMessage(c Code) string {
	switch c {
	case CodeInvalidJSON:
		return "malformed JSON"
	case CodeInvalidMessage:
		return "invalid message"
	case CodeUnknownType:
		return "unknown message type"
	case CodeRateLimited:
		return "too many messages; slow down"
	case CodeOverloaded:
		return "server overloaded; message dropped"
	case CodeUnavailable:
		return "service unavailable"
	case CodeUnauthorized:
		return "unauthorized"
	case CodePermission:
		return "permission denied"
	default:
		return "internal error"
	}
}

// Errors the decoder and the built-in handlers return. They are shared values so that error
// replies cost no allocation; treat them as read-only.
var (
	errMalformed       = &Error{Code: CodeInvalidJSON, Message: "malformed JSON"}
	errTooDeep         = &Error{Code: CodeInvalidJSON, Message: "JSON nested too deeply"}
	errNotObject       = &Error{Code: CodeInvalidMessage, Message: "message must be a JSON object"}
	errTypeMissing     = &Error{Code: CodeInvalidMessage, Message: "type is required and must be a non-empty string"}
	errIDNotString     = &Error{Code: CodeInvalidMessage, Message: "id must be a string"}
	errChanNotString   = &Error{Code: CodeInvalidMessage, Message: "channel must be a string"}
	errMethodNotString = &Error{Code: CodeInvalidMessage, Message: "method must be a string"}
	errTokenNotString  = &Error{Code: CodeInvalidMessage, Message: "token must be a string"}
	errChanRequired    = &Error{Code: CodeInvalidMessage, Message: "channel is required for this type"}
	errChanInvalid     = &Error{Code: CodeInvalidMessage, Message: "channel must be 1-128 bytes of A-Z a-z 0-9 _ . : - (and #users for a user-limited channel)"}
	errIDTooLong       = &Error{Code: CodeInvalidMessage, Message: "id is too long"}
	errUnknownType     = &Error{Code: CodeUnknownType, Message: "unknown message type"}
	errOverloaded      = &Error{Code: CodeOverloaded, Message: "server overloaded; message dropped"}
	errInternal        = &Error{Code: CodeInternal, Message: "internal error"}
	errTooManyChans    = &Error{Code: CodeInvalidMessage, Message: "too many channels subscribed on this connection"}
	errBrokerDown      = &Error{Code: CodeUnavailable, Message: "channel broker unavailable"}
	errSessionClosed   = &Error{Code: CodeUnavailable, Message: "connection closed"}
	errUserEmpty       = &Error{Code: CodeInvalidMessage, Message: "user id must not be empty"}
	errUserChange      = &Error{Code: CodePermission, Message: "a connection cannot change user"}
	errAnonymous       = &Error{Code: CodeUnauthorized, Message: "the connection has no identity"}
)
