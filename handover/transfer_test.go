package handover

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTransferInProcess hands 600 real TCP connections (three batches)
// with states, queued bytes, shared frames and events from a Transfer to a
// Run in the same process, then commits and relays, and checks that every
// adopted descriptor is the same socket and carries the bytes in order.
func TestTransferInProcess(t *testing.T) {
	const n = 600
	clients, fds := tcpConns(t, n)
	tx, pred, st := inProcess(t, Hello{Origin: 2, Info: "test"}, TransferConfig{Origin: 1, NATS: true})
	if st.Origin != 1 || !st.NATS || st.Version != MaxVersion {
		t.Fatalf("START = %+v", st)
	}
	if got := tx.Successor().Hello(); got.Origin != 2 || got.Info != "test" || got.MaxVersion != MaxVersion {
		t.Fatalf("HELLO = %+v", got)
	}
	a := newRecAdopter()
	rc := runAsync(pred, a)

	shared := []byte("shared frame\n")
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: spans packets
	for i := 0; i < n; i++ {
		id := uint64(1000 + i)
		state := NewRecord(nil, 1).Uint(1, id).String(2, fmt.Sprintf("user-%d", i)).Done()
		if i == 7 {
			state = NewRecord(nil, 1).Bytes(3, big).Done()
		}
		if err := tx.Add(Conn{ID: id, FD: fds[i], State: state}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Write(id, []byte(fmt.Sprintf("queued %d\n", i))); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := tx.WriteShared(id, shared); err != nil {
				t.Fatal(err)
			}
		}
		if i%100 == 0 {
			tx.Flush()
			if err := tx.Wait(t.Context(), 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Write(1000+7, big); err != nil {
		t.Fatal(err)
	}
	if err := tx.Event(1003, []byte("unsubscribe room:1")); err != nil {
		t.Fatal(err)
	}
	res, err := tx.Prepare(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Conns != n || res.Adopted != n || len(res.Refused) != 0 || res.Batches < 3 {
		t.Fatalf("result %+v", res)
	}
	select {
	case <-a.committed:
		t.Fatal("committed before COMMIT")
	default:
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tx.WaitRunning(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A write after COMMIT (a broadcast that was in flight) still arrives.
	if err := tx.Write(1001, []byte("late\n")); err != nil {
		t.Fatal(err)
	}
	for s := uint64(1); s <= 3; s++ {
		if err := tx.Relay(Message{Origin: 9, Seq: s, Channel: []byte("room:1"), Payload: []byte{byte(s)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.EndNATS(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, rc)
	if r.err != nil || !r.out.Committed || r.out.Orphaned || r.out.Adopted != n {
		t.Fatalf("Run = %+v, %v", r.out, r.err)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.relayed) != 3 || !a.natsEnd || a.relayed[2].Seq != 3 || string(a.relayed[0].Channel) != "room:1" {
		t.Fatalf("relayed %v, NATSEND %v", a.relayed, a.natsEnd)
	}
	if len(a.shared) != 1 {
		t.Fatalf("the shared frame arrived as %d different buffers", len(a.shared))
	}
	for i := 0; i < n; i++ {
		id := uint64(1000 + i)
		c := a.conns[id]
		if !sameSocket(t, c.fd, fds[i]) {
			t.Fatalf("connection %d: the adopted descriptor is another socket", id)
		}
		want := fmt.Sprintf("queued %d\n", i)
		if i%2 == 0 {
			want += string(shared)
		}
		switch i {
		case 1:
			want += "late\n"
		case 7:
			want += string(big)
		}
		if c.out.String() != want {
			t.Fatalf("connection %d output %.80q, want %.80q", id, c.out.String(), want)
		}
		v, fields, err := ReadRecord(c.state)
		if err != nil || v != 1 {
			t.Fatalf("connection %d state: %v", id, err)
		}
		if i == 7 {
			if len(fields) != 1 || !bytes.Equal(fields[0].Value, big) {
				t.Fatal("the large state did not survive")
			}
			continue
		}
		if got, _ := fields[0].Uint(); got != id || string(fields[1].Value) != fmt.Sprintf("user-%d", i) {
			t.Fatalf("connection %d state fields %v", id, fields)
		}
	}
	if ev := a.conns[1003].events; len(ev) != 1 || ev[0] != "unsubscribe room:1" {
		t.Fatalf("events %q", ev)
	}
	// The adopted descriptor writes into the client's connection.
	c := a.conns[1042]
	if _, err := unix.Write(c.fd, []byte("from the successor")); err != nil {
		t.Fatal(err)
	}
	clients[42].SetReadDeadline(time.Now().Add(waitFor))
	got := make([]byte, len("from the successor"))
	if _, err := io.ReadFull(clients[42], got); err != nil || string(got) != "from the successor" {
		t.Fatalf("client read %q, %v", got, err)
	}
	for _, c := range a.conns {
		unix.Close(c.fd)
	}
}

// TestTransferRefusals: connections the successor refuses stay with the old
// process; writes for them are dropped by the successor.
func TestTransferRefusals(t *testing.T) {
	_, fds := tcpConns(t, 10)
	tx, pred, _ := inProcess(t, Hello{}, TransferConfig{})
	a := newRecAdopter()
	a.refuse = func(c Conn) error {
		if c.ID%3 == 0 {
			return errors.New("state version 9 not supported")
		}
		return nil
	}
	rc := runAsync(pred, a)
	for i, fd := range fds {
		if err := tx.Add(Conn{ID: uint64(i), FD: fd, State: []byte{9}}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Write(uint64(i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	res, err := tx.Prepare(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Adopted != 6 || len(res.Refused) != 4 || res.Refused[0].ID != 0 || !strings.Contains(res.Refused[1].Reason, "version 9") {
		t.Fatalf("result %+v", res)
	}
	// The parent's descriptors of refused connections still work.
	if _, err := unix.Write(fds[3], []byte("still ours")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tx.Close()
	if r := waitRun(t, rc); r.err != nil || r.out.Refused != 4 || r.out.Adopted != 6 {
		t.Fatalf("Run = %+v, %v", r.out, r.err)
	}
}

// TestTransferAbortRollsBack: the old process aborts after some batches;
// the successor closes what it adopted without touching the sockets, and
// the old process's descriptors still serve every connection.
func TestTransferAbortRollsBack(t *testing.T) {
	clients, fds := tcpConns(t, 300)
	tx, pred, _ := inProcess(t, Hello{}, TransferConfig{})
	a := newRecAdopter()
	rc := runAsync(pred, a)
	for i, fd := range fds {
		if err := tx.Add(Conn{ID: uint64(i), FD: fd, State: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	tx.Flush()
	if err := tx.Wait(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if err := tx.Abort(errors.New("operator changed their mind"), time.Second); err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, rc)
	var ab *AbortError
	if !errors.Is(r.err, ErrAborted) || !errors.As(r.err, &ab) || ab.Reason != "operator changed their mind" || r.out.Committed {
		t.Fatalf("Run = %+v, %v", r.out, r.err)
	}
	if err := <-a.aborted; err == nil {
		t.Fatal("Adopter.Abort without a reason")
	}
	if err := tx.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	// Every connection still works from the old side, both ways.
	for i, c := range clients {
		if _, err := unix.Write(fds[i], []byte{'k'}); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.SetReadDeadline(time.Now().Add(waitFor))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 'k' {
			t.Fatalf("connection %d: read %q %v (closed by the successor's abort?)", i, b, err)
		}
	}
}

// TestTransferSuccessorSilent: a successor that stops acknowledging makes
// Wait fail with ErrTimeout instead of hanging the old process.
func TestTransferSuccessorSilent(t *testing.T) {
	_, fds := tcpConns(t, 3)
	tx, _, _ := inProcess(t, Hello{}, TransferConfig{Timeout: 300 * time.Millisecond})
	// Nobody runs the successor side: nothing is acknowledged.
	for i, fd := range fds {
		tx.Add(Conn{ID: uint64(i), FD: fd, State: []byte{1}})
	}
	tx.Flush()
	start := time.Now()
	err := tx.Wait(t.Context(), 0)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Wait = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > waitFor {
		t.Fatalf("Wait took %s: it did not notice the silence", d)
	}
	if err := tx.Add(Conn{ID: 9, FD: fds[0]}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Add after the failure = %v", err)
	}
}

// TestTransferOutboxBound: bytes queued past MaxPending fail the transfer.
func TestTransferOutboxBound(t *testing.T) {
	tx, _, _ := inProcess(t, Hello{}, TransferConfig{MaxPending: 1 << 20, Timeout: time.Second})
	// Nobody reads the successor side: once the socket buffers are full,
	// the writes pile up in the queue.
	var err error
	for i := 0; i < 4096 && err == nil; i++ {
		err = tx.Write(1, make([]byte, 4096))
	}
	if !errors.Is(err, ErrOutboxFull) && !errors.Is(err, ErrTimeout) {
		t.Fatalf("writes past the bound: %v", err)
	}
}

// TestTransferOrder: calls out of order are refused, not half-done.
func TestTransferOrder(t *testing.T) {
	tx, pred, _ := inProcess(t, Hello{}, TransferConfig{})
	if err := tx.Commit(); !errors.Is(err, ErrPhase) {
		t.Fatalf("Commit before Prepare = %v", err)
	}
	if err := tx.Relay(Message{}); !errors.Is(err, ErrPhase) {
		t.Fatalf("Relay before Commit = %v", err)
	}
	if err := tx.Close(); !errors.Is(err, ErrPhase) {
		t.Fatalf("Close before Commit = %v", err)
	}
	rc := runAsync(pred, newRecAdopter())
	if _, err := tx.Prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Add(Conn{}); !errors.Is(err, ErrPhase) {
		t.Fatalf("Add after Prepare = %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Abort(errors.New("too late"), time.Second); !errors.Is(err, ErrCommitted) {
		t.Fatalf("Abort after Commit = %v", err)
	}
	tx.Close()
	if r := waitRun(t, rc); r.err != nil || !r.out.Committed {
		t.Fatalf("Run = %+v, %v", r.out, r.err)
	}
}
