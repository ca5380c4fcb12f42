package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
)

// Request sends data on subject and waits for one reply within ctx (NATS request-reply): the
// transport of RPC calls to a backend that listens on NATS (-proxy-rpc-url nats:SUBJECT). The
// subject is the backend's own, outside the broker's prefix. An error wraps ErrUnavailable:
// NATS down, nobody listening (no responders), or no reply in time.
func (b *Broker) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if b.closing.Load() || !b.nc.IsConnected() {
		return nil, fmt.Errorf("natsbroker: request on %s: %w: %s", subject, ErrUnavailable, b.nc.Status())
	}
	m, err := b.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		if errors.Is(err, nats.ErrMaxPayload) {
			return nil, ErrTooLarge
		}
		return nil, fmt.Errorf("natsbroker: request on %s: %w: %w", subject, ErrUnavailable, err)
	}
	return m.Data, nil
}

// MaxPayload is the largest message the NATS server takes (its max_payload), 0 before the
// first connection.
func (b *Broker) MaxPayload() int64 { return b.nc.MaxPayload() }

// ValidRequestSubject reports whether s can be a Request subject: dot-separated non-empty
// tokens of printable ASCII without the wildcards "*" and ">", at most 256 bytes.
func ValidRequestSubject(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c >= 0x7f {
				return false
			}
		}
	}
	return true
}
