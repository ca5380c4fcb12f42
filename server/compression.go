package server

import (
	"io"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/metrics"
)

// permessage-deflate on the connection (RFC 7692, docs/compression.md). The
// codec negotiates, deflates and inflates; this side answers the offer at
// the upgrade, keeps what a connection agreed (one byte: the server window
// bits) and chooses per message between the plain frame, the frame a
// publish shares across the node, and a frame of the connection's own.
// Every message is compressed on its own, so no connection keeps a
// compressor; the client's window, when it uses context takeover, lives in
// the decoder.

// extHeader is the Sec-WebSocket-Extensions line of an upgrade response. It
// is a field of the loop's upgrader, so answering allocates nothing.
type extHeader struct{ b []byte }

func (h *extHeader) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(h.b)
	return int64(n), err
}

// negotiateDeflate is the upgrader's ExtensionCustom, called by gobwas for
// each Sec-WebSocket-Extensions line in order: the first acceptable offer
// wins. It always reports true, since false would make gobwas answer 400:
// an offer the server cannot take is declined by leaving the extension out
// of the answer, never by failing the handshake.
func (u *upgrader) negotiateDeflate(v []byte, opts []httphead.Option) ([]httphead.Option, bool) {
	u.s.opts.Compression.Negotiate(&u.deflate, v)
	return opts, true
}

// deflateHeader is the extension's answer for OnBeforeUpgrade: exactly what
// was agreed, or nil when nothing was.
func (u *upgrader) deflateHeader() ws.HandshakeHeader {
	if !u.deflate.Enabled() {
		return nil
	}
	b := append(u.ext.b[:0], "Sec-WebSocket-Extensions: "...)
	b = u.deflate.AppendResponse(b)
	u.ext.b = append(b, "\r\n"...)
	return &u.ext
}

// setDeflate gives a new connection what its handshake agreed: the decoder
// inflates (and keeps the client's window if the client uses context
// takeover), and the write side needs only the server window bits. Loop
// only, before the connection is visible to any other goroutine.
func (w *wsConn) setDeflate(cfg *codec.Config, p codec.Params) {
	if !p.Enabled() {
		return
	}
	w.dec.SetDeflate(cfg, p)
	w.up = w.up&1 | p.ServerMaxWindowBits<<4
}

// zbits is the server window bits agreed (8..15), 0 without the extension.
func (w *wsConn) zbits() uint8 { return w.up >> 4 }

// deflateParams is the agreement as the encoders read it: enabled, and the
// window the client allows the server (the rest concerns the decoder).
func (w *wsConn) deflateParams() codec.Params {
	return codec.Params{ServerMaxWindowBits: w.zbits(), ClientMaxWindowBits: 15}
}

// OnInflated counts a compressed message received (codec.InflateObserver,
// called by the decoder on the loop).
func (w *wsConn) OnInflated(compressed, inflated int) {
	st := &w.srv().stats[w.conn().LoopID()]
	st.zMsgsIn++
	st.zBytesIn += uint64(compressed)
	st.zRawIn += uint64(inflated)
}

// writeData queues a data message (a reply, an echo): compressed when the
// connection agreed permessage-deflate, the message has at least
// -compression-min-size bytes and deflate makes it smaller, else the plain
// frame. It returns the frame's size. The counts go to st on the loop, to
// the metrics directly from other goroutines (st nil).
func (w *wsConn) writeData(op codec.OpCode, p []byte, st *loopStats) (int, error) {
	s := w.srv()
	cfg := &s.opts.Compression
	zp := w.deflateParams()
	if w.zbits() == 0 || !cfg.Compresses(zp, len(p)) {
		if st != nil && lastFrame(p, st) {
			return codec.FrameSize(len(p)), w.sendMessage(op, p)
		}
		return codec.FrameSize(len(p)), w.writeMessage(op, p)
	}
	buf := s.zbufs.Get()
	frame, compressed := cfg.AppendMessage(buf.B[:0], zp, op, p)
	err := w.out().Write(frame)
	n, z := len(frame), framePayload(frame)
	buf.B = frame
	s.zbufs.Put(buf)
	if st != nil {
		st.zRuns++
		if compressed && err == nil {
			st.zMsgsOut++
			st.zBytesOut += uint64(z)
			st.zRawOut += uint64(len(p))
		}
	} else {
		s.zm.compressions.Inc()
		if compressed && err == nil {
			s.zm.sent(z, len(p))
		}
	}
	return n, err
}

// sendPreparedDeflate queues a publication to a connection that agreed
// permessage-deflate: the node's one compressed frame by reference (made by
// the first subscriber that needs it), or, for a client that limited the
// server's window below the payload's length, a frame of its own. It
// reports false when the plain frame is to go instead (the payload is under
// -compression-min-size or does not shrink). Any goroutine.
func (w *wsConn) sendPreparedDeflate(m *codec.Prepared) (bool, error) {
	s := w.srv()
	cfg := &s.opts.Compression
	zp := w.deflateParams()
	payload := m.Payload()
	if !cfg.Compresses(zp, len(payload)) {
		return false, nil
	}
	frame, made := m.Compressed(cfg)
	if made {
		s.zm.compressions.Inc()
	}
	if frame == nil {
		return false, nil
	}
	if !zp.Shares(len(payload)) {
		n, err := w.writeData(m.Op(), payload, nil)
		if err == nil {
			s.m.MessagesSent.Inc()
			s.m.BytesSent.Add(float64(n))
		}
		return true, err
	}
	err := w.out().WriteShared(frame)
	if err == nil {
		s.m.MessagesSent.Inc()
		s.m.BytesSent.Add(float64(len(frame)))
		s.zm.sent(framePayload(frame), len(payload))
	}
	return true, err
}

// framePayload is the payload length of one whole unmasked frame.
func framePayload(frame []byte) int {
	switch frame[1] & 0x7F {
	case 126:
		return len(frame) - 4
	case 127:
		return len(frame) - 10
	}
	return len(frame) - 2
}

// zcounters are the compression metrics' label children, resolved once
// (a lookup by label per message would cost a hash and a lock).
type zcounters struct {
	msgsIn, bytesIn, rawIn    prometheus.Counter
	msgsOut, bytesOut, rawOut prometheus.Counter
	compressions              prometheus.Counter
}

func newZCounters(m *metrics.Metrics) zcounters {
	return zcounters{
		msgsIn:       m.CompressedMessages.WithLabelValues("in"),
		bytesIn:      m.CompressedBytes.WithLabelValues("in"),
		rawIn:        m.UncompressedBytes.WithLabelValues("in"),
		msgsOut:      m.CompressedMessages.WithLabelValues("out"),
		bytesOut:     m.CompressedBytes.WithLabelValues("out"),
		rawOut:       m.UncompressedBytes.WithLabelValues("out"),
		compressions: m.Compressions,
	}
}

// sent counts one compressed message queued: z payload bytes on the wire
// for raw uncompressed ones.
func (z *zcounters) sent(compressed, raw int) {
	z.msgsOut.Inc()
	z.bytesOut.Add(float64(compressed))
	z.rawOut.Add(float64(raw))
}

// flush adds a loop's compression counts to the metrics.
func (z *zcounters) flush(st *loopStats) {
	if st.zMsgsIn != 0 {
		z.msgsIn.Add(float64(st.zMsgsIn))
		z.bytesIn.Add(float64(st.zBytesIn))
		z.rawIn.Add(float64(st.zRawIn))
	}
	if st.zRuns != 0 {
		z.compressions.Add(float64(st.zRuns))
	}
	if st.zMsgsOut != 0 {
		z.msgsOut.Add(float64(st.zMsgsOut))
		z.bytesOut.Add(float64(st.zBytesOut))
		z.rawOut.Add(float64(st.zRawOut))
	}
}
