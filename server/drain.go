package server

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/poller"
)

// The spread drain: a node that stops closes its connections with 1012
// (service restart) spread over -drain-spread instead of all at once, so
// that its clients come back to the other nodes gradually rather than in
// one reconnect storm.

// closeServiceRestart is 1012 (RFC 6455 registry: "Service Restart"): the
// client may reconnect, after a random delay.
const closeServiceRestart codec.CloseCode = 1012

const drainReason = "service restart"

// drainGap is the longest the spread waits between two closes: a node with
// few connections closes them at 1,000 a second at least, rather than
// stretching a handful over the whole window.
const drainGap = time.Millisecond

// drainTick is how often the spread closes the connections now due.
const drainTick = 10 * time.Millisecond

// spreadWindow is how long the closes of n connections are spread over:
// -drain-spread, at most n x drainGap, and short enough that the last
// connection closed still has -close-timeout to answer before the deadline.
func spreadWindow(n int, spread, left, closeTimeout time.Duration) time.Duration {
	w := min(spread, time.Duration(n)*drainGap, left-closeTimeout)
	return max(w, 0)
}

// closeSpread refuses the connections still in their handshake and closes
// every upgraded one with 1012, spread over the window; it returns once the
// last close is queued, or when ctx ends. Connections not closed yet keep
// being served meanwhile.
func (s *Server) closeSpread(ctx context.Context, deadline time.Time) {
	perLoop := make([][]*poller.Conn, s.poll.Config().Loops)
	s.poll.Each(func(c *poller.Conn) { // each loop appends to its own slice
		w := poller.State[wsConn](c)
		switch w.state {
		case stHandshake:
			if w.ep == epKeptAlive && w.conn().Buffered() == 0 {
				w.closeKeptAlive() // between requests: HTTP lets the server just close
				return
			}
			w.refuse(refDraining, 0)
		case stOpen:
			perLoop[c.LoopID()] = append(perLoop[c.LoopID()], c)
		}
	})
	// Round robin over the loops, so each loop's share is spread too.
	var order []*poller.Conn
	for i := 0; len(order) < total(perLoop); i++ {
		for _, l := range perLoop {
			if i < len(l) {
				order = append(order, l[i])
			}
		}
	}
	n := len(order)
	window := spreadWindow(n, s.opts.DrainSpread, time.Until(deadline), s.opts.CloseTimeout)
	s.log.Info("drain: closing connections with 1012", zap.Int("connections", n), zap.Duration("spread", window))
	s.state.spreading.Store(true)
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for done := 0; done < n; {
		select {
		case <-ctx.Done():
			return // Shutdown force-closes the rest
		case <-t.C:
		}
		due := n
		if elapsed := time.Since(start); elapsed < window {
			due = min(n, int(int64(n)*int64(elapsed)/int64(window))+1)
		}
		s.closeBatch(order[done:due])
		done = due
		t.Reset(drainTick)
	}
}

func total(ls [][]*poller.Conn) int {
	n := 0
	for _, l := range ls {
		n += len(l)
	}
	return n
}

// closeBatch posts the closes of batch to the connections' loops, one task
// per loop.
func (s *Server) closeBatch(batch []*poller.Conn) {
	byLoop := make(map[int][]*poller.Conn)
	for _, c := range batch {
		byLoop[c.LoopID()] = append(byLoop[c.LoopID()], c)
	}
	for _, cs := range byLoop {
		cs[0].Do(func() {
			for _, c := range cs {
				if c.Closed() {
					continue
				}
				poller.State[wsConn](c).drainClose()
			}
		})
	}
}

// drainClose starts the close handshake of an upgraded connection with
// 1012; the peer has -close-timeout to answer. On /ws the replies to the
// messages it sent before are written first (the router closes it once they
// are, through Close). Loop only.
func (w *wsConn) drainClose() {
	if w.state != stOpen {
		return
	}
	if w.ep == epWS && w.sess != nil {
		w.srv().router.CloseAfterReplies(w.sess, closeServiceRestart, drainReason)
		return
	}
	w.closeWith(closeServiceRestart, drainReason, w.conn().Now()+int64(w.srv().opts.CloseTimeout))
}
