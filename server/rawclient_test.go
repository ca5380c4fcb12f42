package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/wsedge/wsedge/codec"
)

// rawClient speaks WebSocket byte by byte, so tests can send what no
// well-behaved library would.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

func upgradeRequest(path string, extra string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

// dialRaw upgrades a raw connection to path and fails the test on refusal.
func dialRaw(t testing.TB, s *Server, path string) *rawClient {
	t.Helper()
	c := rawDial(t, s)
	if _, err := io.WriteString(c, upgradeRequest(path, "")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("upgrade response: %v", err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: status %d accept %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	return &rawClient{t: t, conn: c, br: br}
}

// frame builds any frame, valid or not.
func frame(fin bool, rsv byte, op codec.OpCode, masked bool, payload []byte) []byte {
	b0 := byte(op) | rsv<<4
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	var m byte
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, m|byte(n))
	case n <= 0xFFFF:
		out = append(out, m|126, byte(n>>8), byte(n))
	default:
		out = append(out, m|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

// text and similar build valid masked frames.
func msgFrame(op codec.OpCode, fin bool, p string) []byte { return frame(fin, 0, op, true, []byte(p)) }

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

func (r *rawClient) send(b ...[]byte) {
	r.t.Helper()
	if _, err := r.conn.Write(bytes.Join(b, nil)); err != nil {
		r.t.Fatalf("send: %v", err)
	}
}

// serverFrame is one frame read from the server.
type serverFrame struct {
	fin     bool
	op      codec.OpCode
	payload []byte
}

// next reads one whole frame; the server's frames must be unmasked with
// clear RSV bits.
func (r *rawClient) next() (serverFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		return serverFrame{}, err
	}
	if h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		return serverFrame{}, errors.New("server sent RSV bits or a masked frame")
	}
	n := int(h[1] & 0x7F)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(r.br, e[:]); err != nil {
			return serverFrame{}, err
		}
		n = int(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(r.br, e[:]); err != nil {
			return serverFrame{}, err
		}
		n = int(binary.BigEndian.Uint64(e[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r.br, p); err != nil {
		return serverFrame{}, err
	}
	return serverFrame{fin: h[0]&0x80 != 0, op: codec.OpCode(h[0] & 0x0F), payload: p}, nil
}

// expectClose reads until the server's close frame, checks its code, then
// checks that the server closes TCP.
func (r *rawClient) expectClose(code codec.CloseCode) {
	r.t.Helper()
	for {
		f, err := r.next()
		if err != nil {
			r.t.Fatalf("want close %d, got error %v", code, err)
		}
		if f.op != codec.OpClose {
			continue
		}
		if len(f.payload) < 2 {
			r.t.Fatalf("want close %d, got empty close", code)
		}
		if got := codec.CloseCode(binary.BigEndian.Uint16(f.payload)); got != code {
			r.t.Fatalf("want close %d, got %d (%q)", code, got, f.payload[2:])
		}
		break
	}
	r.expectEOF()
}

// expectEOF checks that the server closes the TCP connection.
func (r *rawClient) expectEOF() {
	r.t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.br.ReadByte(); err == nil || errors.Is(err, net.ErrClosed) || isTimeout(err) {
		r.t.Fatalf("want the server to close TCP, got %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
