package codec

import (
	"errors"
	"strconv"
)

// Error is a protocol violation by the peer. The connection must be closed
// with Code; Reason is short enough (< 123 bytes) to go in the close frame.
// Callers branch on it with errors.As.
type Error struct {
	Code   CloseCode
	Reason string
}

func (e *Error) Error() string {
	return "websocket: " + e.Reason + " (close " + strconv.Itoa(int(e.Code)) + ")"
}

func protocolError(code CloseCode, reason string) *Error {
	return &Error{Code: code, Reason: reason}
}

var (
	// ErrStopped is returned by Feed once the decoder has delivered a close
	// frame or reported a protocol error: nothing after that may be parsed.
	ErrStopped = errors.New("codec: decoder stopped after a close frame or protocol error")

	// ErrTailChanged is returned by Feed when the caller did not present the
	// unconsumed tail of the previous Feed again (it is shorter than the
	// part the decoder already unmasked in place). It is a caller bug.
	ErrTailChanged = errors.New("codec: unconsumed tail was not presented again")
)
