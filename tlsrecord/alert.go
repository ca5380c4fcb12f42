package tlsrecord

import (
	"errors"
	"fmt"
)

// Alert is a TLS alert description (RFC 8446 6).
type Alert uint8

// The alerts the record layer sends or tells apart.
const (
	AlertCloseNotify       Alert = 0
	AlertUnexpectedMessage Alert = 10
	AlertBadRecordMAC      Alert = 20
	AlertRecordOverflow    Alert = 22
	AlertIllegalParameter  Alert = 47
	AlertDecodeError       Alert = 50
	AlertInternalError     Alert = 80
	AlertUserCanceled      Alert = 90
)

var alertNames = map[Alert]string{
	AlertCloseNotify:       "close_notify",
	AlertUnexpectedMessage: "unexpected_message",
	AlertBadRecordMAC:      "bad_record_mac",
	AlertRecordOverflow:    "record_overflow",
	AlertIllegalParameter:  "illegal_parameter",
	AlertDecodeError:       "decode_error",
	AlertInternalError:     "internal_error",
	AlertUserCanceled:      "user_canceled",
}

func (a Alert) String() string {
	if s, ok := alertNames[a]; ok {
		return s
	}
	return fmt.Sprintf("alert(%d)", uint8(a))
}

// Error ends the read side of a connection. Remote errors are alerts the
// peer sent; the others are protocol violations found here, and the peer
// is owed Alert before the connection closes (Conn.SealError appends it).
type Error struct {
	Alert  Alert
	Remote bool
	Msg    string
}

func (e *Error) Error() string {
	if e.Remote {
		return "tlsrecord: peer sent alert " + e.Alert.String()
	}
	return "tlsrecord: " + e.Msg + " (" + e.Alert.String() + ")"
}

var (
	// ErrClosed: the write side is closed (close_notify or a fatal alert
	// was sealed) or the connection ran out of sequence numbers.
	ErrClosed = errors.New("tlsrecord: write side closed")
	// ErrSeqExhausted: a direction reached sequence number 2^64-1, which
	// is never used (RFC 8446 5.3: sequence numbers do not wrap).
	ErrSeqExhausted = errors.New("tlsrecord: sequence numbers exhausted")
)

func protoErr(a Alert, msg string) *Error { return &Error{Alert: a, Msg: msg} }
