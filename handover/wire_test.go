package handover

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/unix"
)

// TestChannelRoundTrip sends random messages (empty to several packets
// long, with up to 253 descriptors, packed as they come) over a real
// SEQPACKET socketpair and checks each arrives whole, in order, with its
// own descriptors (the same open files: a pipe written through the
// received descriptor is read through the original).
func TestChannelRoundTrip(t *testing.T) {
	a, b, err := socketpair()
	if err != nil {
		t.Fatal(err)
	}
	tx, err := newEndpoint(a, 0)
	if err != nil {
		t.Fatal(err)
	}
	rx, err := newEndpoint(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.close()
	defer rx.close()

	type sent struct {
		typ     byte
		payload []byte
		pipes   [][2]int // read end kept here, write end sent
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var msgs []sent
	for i := 0; i < 300; i++ {
		var size int
		switch rng.IntN(4) {
		case 0:
			size = 0
		case 1:
			size = rng.IntN(100)
		case 2:
			size = maxPacket - 30 + rng.IntN(60) // around a packet's end
		default:
			size = rng.IntN(3 * maxPacket)
		}
		p := make([]byte, size)
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		m := sent{typ: byte(rng.IntN(256)), payload: p}
		if k := rng.IntN(8); k <= 1 {
			// Mostly a few descriptors, sometimes a full packet's worth
			// (the open-files limit bounds the total).
			nfds := 1 + rng.IntN(4)
			if k == 0 && i%10 == 0 {
				nfds = maxFDsPerPacket - rng.IntN(3)
			}
			for range nfds {
				var fds [2]int
				if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
					t.Fatal(err)
				}
				m.pipes = append(m.pipes, fds)
			}
		}
		msgs = append(msgs, m)
	}
	errc := make(chan error, 1)
	go func() {
		tx.wmu.Lock()
		defer tx.wmu.Unlock()
		for _, m := range msgs {
			var fds []int
			for _, p := range m.pipes {
				fds = append(fds, p[1])
			}
			// Split the payload in two parts, as items (head, body) are.
			cut := len(m.payload) / 3
			if err := tx.message(m.typ, fds, m.payload[:cut], m.payload[cut:]); err != nil {
				errc <- err
				return
			}
			if rng.IntN(5) == 0 {
				if err := tx.flush(); err != nil {
					errc <- err
					return
				}
			}
		}
		errc <- tx.flush()
	}()
	for i, want := range msgs {
		got, err := rx.read()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got.typ != want.typ || !bytes.Equal(got.payload, want.payload) {
			t.Fatalf("message %d: type %d, %d bytes; want type %d, %d bytes", i, got.typ, len(got.payload), want.typ, len(want.payload))
		}
		if len(got.fds) != len(want.pipes) {
			t.Fatalf("message %d: %d descriptors, want %d", i, len(got.fds), len(want.pipes))
		}
		for j, fd := range got.fds {
			mark := []byte{byte(i), byte(j)}
			if _, err := unix.Write(fd, mark); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2)
			if _, err := unix.Read(want.pipes[j][0], buf); err != nil || !bytes.Equal(buf, mark) {
				t.Fatalf("message %d descriptor %d is not the pipe it should be", i, j)
			}
			unix.Close(fd)
			unix.Close(want.pipes[j][0])
			unix.Close(want.pipes[j][1])
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// An abort packet ends the stream, with its reason.
	tx.abort("stop here", waitFor)
	if _, err := rx.read(); !errors.As(err, new(*AbortError)) {
		t.Fatalf("after an abort packet: %v", err)
	}
	tx.close()
	if _, err := rx.read(); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// TestChannelRefusesGarbage: packets that are not this framing end the
// channel with a protocol error, and descriptors that came with them are
// closed.
func TestChannelRefusesGarbage(t *testing.T) {
	for _, pkt := range [][]byte{{9, 0, 1}, {framingVersion, 7}, {framingVersion}} {
		a, b, _ := socketpair()
		rx, _ := newEndpoint(b, 0)
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Sendmsg(int(a.Fd()), pkt, unix.UnixRights(p[1]), nil, 0)
		unix.Close(p[1])
		if _, err := rx.read(); !errors.Is(err, ErrProtocol) {
			t.Fatalf("packet %v: %v", pkt, err)
		}
		// The descriptor that came with it was closed: the pipe's
		// read end sees end of file.
		if n, err := unix.Read(p[0], make([]byte, 1)); n != 0 || err != nil {
			t.Fatalf("packet %v: the passed descriptor is still open (%d, %v)", pkt, n, err)
		}
		unix.Close(p[0])
		a.Close()
		rx.close()
	}
}
