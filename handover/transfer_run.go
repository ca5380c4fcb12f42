package handover

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// send writes queued messages in order, packing small ones into packets.
// It stops at an open batch, on failure, and after Close drained the queue.
func (t *Transfer) send() {
	defer close(t.senderDone)
	var take []*item
	for {
		t.mu.Lock()
		for {
			if t.err != nil {
				t.mu.Unlock()
				return
			}
			k := 0
			for k < len(t.queue) && t.queue[k].sealed {
				k++
			}
			if k > 0 {
				take = append(take[:0], t.queue[:k]...)
				clear(t.queue[:k])
				t.queue = t.queue[k:]
				for _, it := range take {
					if it.typ == msgBatch {
						// Before the write: the ACK may come back first.
						t.sentN[it.seq] = it.n
					}
				}
				break
			}
			if t.ph == phClosed && len(t.queue) == 0 {
				t.mu.Unlock()
				return
			}
			t.mu.Unlock()
			<-t.kick
			t.mu.Lock()
		}
		t.mu.Unlock()

		err := t.write(take)
		if errors.Is(err, ErrClosed) {
			t.s.exitError(nil)
			if st := t.s.exitState(); st != nil {
				err = fmt.Errorf("%w: successor %d ended (%s)", err, t.s.PID(), st)
			}
		}
		t.mu.Lock()
		for _, it := range take {
			t.pending -= it.size()
		}
		clear(take)
		if err != nil {
			t.fail(fmt.Errorf("handover: sending to the successor: %w", err))
		}
		t.notify()
		t.mu.Unlock()
	}
}

func (t *Transfer) write(items []*item) error {
	t.ep.wmu.Lock()
	defer t.ep.wmu.Unlock()
	t.ep.wtimeout = t.cfg.Timeout
	for _, it := range items {
		if err := t.ep.message(it.typ, it.fds, it.head, it.body); err != nil {
			return err
		}
	}
	return t.ep.flush()
}

// receive reads the successor's messages until the channel ends.
func (t *Transfer) receive() {
	for {
		m, err := t.ep.read()
		if err != nil {
			t.ep.closeUnclaimed()
			t.mu.Lock()
			closing := t.ph == phClosed
			t.mu.Unlock()
			if closing {
				return // our own Close or Abort
			}
			if errors.Is(err, ErrClosed) {
				t.s.exitError(nil)
				if st := t.s.exitState(); st != nil {
					err = fmt.Errorf("%w: successor %d ended (%s)", ErrClosed, t.s.PID(), st)
				}
			}
			t.mu.Lock()
			t.fail(err)
			t.mu.Unlock()
			return
		}
		t.mu.Lock()
		t.progress = time.Now()
		if err := t.handle(m); err != nil {
			t.fail(err)
		}
		t.notify()
		t.mu.Unlock()
	}
}

// handle applies one message from the successor. Callers hold mu.
func (t *Transfer) handle(m message) error {
	if len(m.fds) > 0 {
		closeFDs(m.fds)
		return protoErr("%s from the successor carries descriptors", msgName(m.typ))
	}
	switch m.typ {
	case msgAck:
		seq, refused, err := decodeAck(m.payload)
		if err != nil {
			return err
		}
		n, ok := t.sentN[seq]
		if !ok || seq != uint64(t.acked)+1 || len(refused) > n {
			return protoErr("ACK %d does not match a batch in flight", seq)
		}
		delete(t.sentN, seq)
		t.acked++
		t.adopted += n - len(refused)
		t.refused = append(t.refused, refused...)
	case msgPrepared:
		v, err := decodeUints(m.typ, m.payload, 1)
		if err != nil {
			return err
		}
		if t.ph != phEnding || t.acked != t.batches || int(v[0]) != t.adopted {
			return protoErr("PREPARED (%d connections) after %d of %d batches, %d adopted", v[0], t.acked, t.batches, t.adopted)
		}
		t.prepared = int(v[0])
		t.ph = phPrepared
	case msgRunning:
		if t.ph < phCommitted {
			return protoErr("RUNNING before COMMIT")
		}
		t.running = true
	case msgSubscribed:
		select {
		case <-t.subscribed:
		default:
			close(t.subscribed)
		}
	default:
		return protoErr("unexpected %s from the successor", msgName(m.typ))
	}
	return nil
}

// await blocks until cond (called under mu) holds, the transfer fails, ctx
// ends, or the successor stays silent for Timeout while we wait.
func (t *Transfer) await(ctx context.Context, what string, cond func() bool) error {
	start := time.Now()
	for {
		t.mu.Lock()
		if t.err != nil {
			err := t.err
			t.mu.Unlock()
			return err
		}
		if cond() {
			t.mu.Unlock()
			return nil
		}
		ch := t.changed
		deadline := t.progress
		if deadline.Before(start) {
			deadline = start
		}
		deadline = deadline.Add(t.cfg.Timeout)
		t.mu.Unlock()
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-ch:
			timer.Stop()
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
			t.mu.Lock()
			if time.Now().After(t.progress.Add(t.cfg.Timeout)) {
				t.fail(fmt.Errorf("%w: waiting for %s (%s)", ErrTimeout, what, t.cfg.Timeout))
			}
			t.mu.Unlock()
		}
	}
}

// Wait blocks until at most maxInFlight batches are unacknowledged (sent or
// queued): the driver's flow control, which bounds descriptors in flight.
func (t *Transfer) Wait(ctx context.Context, maxInFlight int) error {
	return t.await(ctx, "batch acknowledgements", func() bool { return t.batches-t.acked <= maxInFlight })
}

// Prepare ends the stream of connections (END) and waits until the
// successor has acknowledged every batch and says it holds every
// connection it adopted (PREPARED). Nothing is served by the successor
// yet; Abort still rolls everything back.
func (t *Transfer) Prepare(ctx context.Context) (Result, error) {
	t.mu.Lock()
	if t.ph != phSending {
		t.mu.Unlock()
		return Result{}, ErrPhase
	}
	t.seal()
	err := t.enqueue(&item{typ: msgEnd, head: encodeUints(uint64(t.batches), uint64(t.conns)), sealed: true})
	t.ph = phEnding
	t.mu.Unlock()
	if err != nil {
		return Result{}, err
	}
	err = t.await(ctx, "PREPARED", func() bool { return t.ph == phPrepared })
	return t.Result(), err
}

// Result reports what was sent and adopted so far.
func (t *Transfer) Result() Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Result{Batches: t.batches, Conns: t.conns, Adopted: t.adopted, Refused: append([]Refusal(nil), t.refused...)}
}

// Commit hands everything adopted to the successor (COMMIT): from this call
// on there is no way back. The caller then closes its copies of the adopted
// connections' descriptors (close(2) only: the sockets stay open in the
// successor) and of the listeners, and stops accepting for good. Writes
// still queued for moved connections keep flowing; channel messages go
// through Relay from now on.
func (t *Transfer) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	if t.ph != phPrepared {
		return ErrPhase
	}
	if err := t.enqueue(&item{typ: msgCommit, sealed: true}); err != nil {
		return err
	}
	t.ph = phCommitted
	return nil
}

// WaitRunning blocks until the successor reports it serves (RUNNING).
func (t *Transfer) WaitRunning(ctx context.Context) error {
	return t.await(ctx, "RUNNING", func() bool { return t.running })
}

// Close ends a committed transfer: it waits (up to Timeout) for the queue
// to drain, then closes the channel. The successor runs on.
func (t *Transfer) Close() error {
	t.mu.Lock()
	if t.ph < phCommitted && t.err == nil {
		t.mu.Unlock()
		return ErrPhase
	}
	t.ph = phClosed
	t.notify()
	t.mu.Unlock()
	var err error
	select {
	case <-t.senderDone:
	case <-time.After(t.cfg.Timeout):
		err = fmt.Errorf("%w: draining the channel", ErrTimeout)
	}
	t.ep.close()
	if err == nil {
		err = t.Err()
	}
	return err
}

// Abort abandons an uncommitted transfer: the successor is told why, the
// channel closes, and the successor is reaped (killed if it has not exited
// after grace). When Abort returns, the successor has exited and can no
// longer touch any socket, so the caller resumes every connection it
// paused and accepts again. After Commit it returns ErrCommitted.
func (t *Transfer) Abort(reason error, grace time.Duration) error {
	t.mu.Lock()
	if t.ph == phCommitted || (t.ph == phClosed && t.err == nil) {
		t.mu.Unlock()
		return ErrCommitted
	}
	t.fail(reason)
	t.ph = phClosed
	t.mu.Unlock()
	t.ep.abort(reason.Error(), time.Second)
	t.s.kill(grace)
	<-t.senderDone
	return nil
}
