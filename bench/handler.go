package bench

import (
	"bytes"
	"strconv"

	"github.com/wsedge/wsedge/codec"
)

// A conn is the codec.Handler of its own frames: what it does with each
// message, ping, pong and close the server sends.

// OnMessage implements codec.Handler.
func (c *conn) OnMessage(op codec.OpCode, p []byte) error {
	l := c.l
	if c.deflate != nil {
		if m, ok := c.deflate.next(); ok {
			op = codec.OpCode(m.op)
			if m.compressed {
				var err error
				if p, err = l.inflater.inflate(c.deflate, p); err != nil {
					return err
				}
			}
		}
	}
	l.received.Add(1)
	l.rxPayload.Add(int64(len(p)))
	rec := l.e.record.Load()
	if rec {
		l.recorded.Add(1)
	}
	if ts, ok := parseStamp(op, p); ok {
		l.timed.Add(1)
		if rec {
			// The loop's clock is read once per round: a message stamped
			// after that reading arrived within the round, latency ~0 (left
			// out, the percentiles would lose their fastest samples).
			// Out-of-range values would make RecordValue allocate an error.
			_ = l.lat.RecordValue(min(max(l.now-ts, 0), histMax))
		}
		if l.sendOn && l.e.cfg.Depth > 0 {
			c.owed++
		}
	} else if c.acks > 0 {
		if op == codec.OpText && bytes.Contains(p, []byte(`"type":"error"`)) {
			if !c.refused {
				c.refused = true
				l.refused.Add(1)
				l.causes["refused: "+errorCode(p)]++
			}
		}
		if c.acks--; c.acks == 0 {
			if !c.refused {
				l.acked.Add(1)
			}
			if l.e.cfg.Churn && c.state == stOpen {
				l.startClose(c) // read flushes it after decoding
			}
		}
	}
	return nil
}

// errorCode is the code of a JSON error reply ({"error":{"code":"X"...}}),
// "error" when it has none; it allocates, but only on refusals.
func errorCode(p []byte) string {
	_, rest, ok := bytes.Cut(p, []byte(`"code":"`))
	if !ok {
		return "error"
	}
	code, _, ok := bytes.Cut(rest, []byte(`"`))
	if !ok || len(code) == 0 || len(code) > 64 {
		return "error"
	}
	return string(code)
}

// OnPing implements codec.Handler: answer with a pong.
func (c *conn) OnPing(p []byte) error {
	c.out = codec.AppendClientFrame(c.out, codec.OpPong, true, clientMask, p)
	return nil
}

// OnPong implements codec.Handler.
func (c *conn) OnPong([]byte) error { return nil }

// OnClose implements codec.Handler.
func (c *conn) OnClose(code codec.CloseCode, _ []byte) error {
	c.endCause = "server close " + strconv.Itoa(int(code))
	return nil
}
