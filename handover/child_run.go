package handover

import (
	"errors"
	"fmt"
	"time"
)

// orphanWait bounds how long a successor whose channel closed before COMMIT
// waits to see whether the old process died (then it takes over) or lives
// (then it was an abort). The old process waits longer than this before it
// kills a successor that has not exited (Transfer.Abort's grace).
const orphanWait = time.Second

// run is the state of one Run.
type run struct {
	p         *Predecessor
	a         Adopter
	adopted   map[uint64]struct{}
	refused   int
	batches   int
	received  int
	prepared  bool
	committed bool
	natsEnded bool
	frames    map[uint64][]byte
}

// Run receives the handover and drives the Adopter until the old process is
// done. It returns after the channel ends: with Committed set, the caller
// serves on; otherwise the handover was abandoned (the error says why),
// Abort was called, and the caller exits. Run releases the channel.
func (p *Predecessor) Run(a Adopter) (Outcome, error) {
	if !p.ready {
		return Outcome{}, ErrPhase
	}
	r := &run{p: p, a: a, adopted: make(map[uint64]struct{}), frames: make(map[uint64][]byte)}
	err := r.loop()
	p.ep.closeUnclaimed()
	defer p.close()
	out := Outcome{Committed: r.committed, Adopted: len(r.adopted), Refused: r.refused}
	if r.committed {
		if !r.natsEnded && p.start.NATS {
			a.NATSEnd() // the old process is gone: nothing more will be relayed
		}
		if errors.Is(err, ErrClosed) {
			err = nil
		}
		return out, err
	}
	// Not committed. A closed channel with the old process dead means it
	// crashed mid-way: what was adopted is now only here, so serve it.
	if errors.Is(err, ErrClosed) && p.parentGone(orphanWait) {
		a.Commit()
		if p.start.NATS {
			a.NATSEnd()
		}
		out.Committed, out.Orphaned = true, true
		return out, nil
	}
	var abort *AbortError
	if !errors.As(err, &abort) && !errors.Is(err, ErrClosed) {
		p.ep.abort(err.Error(), time.Second) // tell the old process why
	}
	a.Abort(err)
	return out, fmt.Errorf("%w: %w", ErrAborted, err)
}

// loop handles messages until the channel ends or fails.
func (r *run) loop() error {
	p := r.p
	for {
		if !r.committed {
			// Before COMMIT the old process streams steadily; a long
			// silence means it is stuck, and it can still resume.
			p.ep.c.SetReadDeadline(time.Now().Add(2 * p.start.Timeout))
		} else {
			p.ep.c.SetReadDeadline(time.Time{})
		}
		m, err := p.ep.read()
		if err != nil {
			return err
		}
		if err := r.handle(&m); err != nil {
			closeFDs(m.fds)
			return err
		}
	}
}

func (r *run) handle(m *message) error {
	if len(m.fds) > 0 && m.typ != msgBatch {
		return protoErr("%s carries descriptors", msgName(m.typ))
	}
	switch m.typ {
	case msgBatch:
		if r.prepared {
			return protoErr("BATCH after END")
		}
		seq, conns, err := decodeBatch(m.payload, m.fds)
		if err != nil {
			return err
		}
		if seq != uint64(r.batches)+1 {
			return protoErr("BATCH %d after %d", seq, r.batches)
		}
		r.batches++
		m.fds = nil // each descriptor is now adopted or closed below
		var refused []Refusal
		for _, c := range conns {
			r.received++
			_, dup := r.adopted[c.ID]
			var err error
			if dup {
				err = fmt.Errorf("connection id %d handed over twice", c.ID)
			} else {
				err = r.a.Adopt(c)
			}
			if err != nil {
				closeFDs([]int{c.FD})
				refused = append(refused, Refusal{ID: c.ID, Reason: err.Error()})
				continue
			}
			r.adopted[c.ID] = struct{}{}
		}
		r.refused += len(refused)
		return r.p.ep.sendNow(r.p.start.Timeout, msgAck, nil, encodeAck(seq, refused))
	case msgWrite, msgEvent:
		id, b, err := decodeIDRest(m.typ, m.payload)
		if err != nil {
			return err
		}
		if _, ok := r.adopted[id]; !ok {
			return nil // refused here: the old process keeps it
		}
		if m.typ == msgWrite {
			r.a.Write(id, b, false)
		} else {
			r.a.Event(id, b)
		}
	case msgFrame:
		ref, b, err := decodeIDRest(m.typ, m.payload)
		if err != nil {
			return err
		}
		r.frames[ref] = append([]byte(nil), b...)
	case msgWriteRef:
		v, err := decodeUints(m.typ, m.payload, 2)
		if err != nil {
			return err
		}
		f, ok := r.frames[v[1]]
		if !ok {
			return protoErr("WRITEREF to unknown frame %d", v[1])
		}
		if _, ok := r.adopted[v[0]]; ok {
			r.a.Write(v[0], f, true)
		}
	case msgEnd:
		v, err := decodeUints(m.typ, m.payload, 2)
		if err != nil {
			return err
		}
		if r.prepared || int(v[0]) != r.batches || int(v[1]) != r.received {
			return protoErr("END says %d batches, %d connections; received %d, %d", v[0], v[1], r.batches, r.received)
		}
		r.prepared = true
		return r.p.ep.sendNow(r.p.start.Timeout, msgPrepared, nil, encodeUints(uint64(len(r.adopted))))
	case msgCommit:
		if !r.prepared || r.committed {
			return protoErr("COMMIT out of order")
		}
		r.committed = true
		r.a.Commit()
		return r.p.ep.sendNow(r.p.start.Timeout, msgRunning, nil)
	case msgChannel:
		if !r.committed {
			return protoErr("CHANNEL before COMMIT")
		}
		// After NATSEND it is late (an old-process callback that was
		// still running); the adopter's Switch counts and drops it.
		msg, err := decodeChannel(m.payload)
		if err != nil {
			return err
		}
		r.a.Relayed(msg)
	case msgNATSEnd:
		if !r.committed || r.natsEnded {
			return protoErr("NATSEND out of order")
		}
		r.natsEnded = true
		r.a.NATSEnd()
	default:
		return protoErr("unexpected %s from the old process", msgName(m.typ))
	}
	return nil
}
