package routing

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Logging logs every routed message at debug level with the fields session, type, id, latency
// (and error, if any); INTERNAL failures are logged at error level, but not a reply that failed
// because the connection is gone (ErrConnClosed). When debug is disabled it costs one level
// check per message and no clock reads.
func Logging(log *zap.Logger) Middleware {
	return func(next Handler) Handler {
		return func(c *Context) error {
			debug := log.Core().Enabled(zapcore.DebugLevel)
			var start time.Time
			if debug {
				start = time.Now()
			}
			err := next(c)
			lvl := zapcore.DebugLevel
			if err != nil && codeOf(err) == CodeInternal && !errors.Is(err, ErrConnClosed) {
				lvl = zapcore.ErrorLevel
			}
			if ce := log.Check(lvl, "message"); ce != nil {
				var lat time.Duration
				if debug {
					lat = time.Since(start)
				}
				ce.Write(zap.Uint64("session", c.sess.id), zap.String("type", c.Type()),
					zap.ByteString("id", unquote(c.msg.ID)), zap.Duration("latency", lat), zap.Error(err))
			}
			return err
		}
	}
}

// unquote strips the quotes of a raw id token for logging (escapes stay as sent).
func unquote(id []byte) []byte {
	if len(id) < 2 {
		return nil
	}
	return id[1 : len(id)-1]
}

func codeOf(err error) Code {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Recovery turns a panicking handler into an INTERNAL reply; the stack is logged and the worker,
// the connection and the server carry on. Put it after Logging so that the failure is logged
// with its latency too.
func Recovery(log *zap.Logger) Middleware {
	return func(next Handler) Handler {
		return func(c *Context) (err error) {
			defer func() {
				if v := recover(); v != nil {
					log.Error("handler panicked", zap.Uint64("session", c.sess.id),
						zap.String("type", c.Type()), zap.Any("panic", v), zap.Stack("stack"))
					err = &Error{Code: CodeInternal, Message: errInternal.Message, Err: fmt.Errorf("panic: %v", v)}
				}
			}()
			return next(c)
		}
	}
}

// Rules configure Validation.
type Rules struct {
	// NeedChannel lists the types whose messages must carry a channel.
	NeedChannel []string
	// MaxIDLen bounds the length of the id as sent, in bytes without quotes; 0 means no bound.
	MaxIDLen int
}

// Validation answers INVALID_MESSAGE, before the handler runs, for a routed message whose
// channel is present but not a valid name (ValidChannel), whose type needs a channel it lacks,
// or whose id is longer than rules.MaxIDLen. Unknown types pass through to UNKNOWN_TYPE.
func Validation(rules Rules) Middleware {
	need := make(map[string]bool, len(rules.NeedChannel))
	for _, t := range rules.NeedChannel {
		need[t] = true
	}
	return func(next Handler) Handler {
		return func(c *Context) error {
			if c.route == nil {
				return next(c)
			}
			switch ch := c.msg.Channel; {
			case ch != nil && !ValidChannel(ch):
				return errChanInvalid
			case ch == nil && need[c.route.typ]:
				return errChanRequired
			}
			if rules.MaxIDLen > 0 && len(c.msg.ID)-2 > rules.MaxIDLen {
				return errIDTooLong
			}
			return next(c)
		}
	}
}

// DefaultMiddleware is the server's stack: Logging, Recovery, Validation(BuiltinRules()).
func DefaultMiddleware(log *zap.Logger) []Middleware {
	return []Middleware{Logging(log), Recovery(log), Validation(BuiltinRules())}
}
