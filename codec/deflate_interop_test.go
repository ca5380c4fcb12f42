package codec

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestGorillaInterop: gorilla/websocket with compression enabled, over a
// loopback socket, against a minimal server made of this package:
// Negotiate answers the upgrade, the Decoder inflates what gorilla's
// compressor sends (fragmented too: its write buffer is 512 bytes), and
// gorilla's decompressor reads what AppendMessage sends back.
func TestGorillaInterop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	msgs := [][]byte{{}, []byte("hi"), jsonMessages(1, 1024, 31)[0],
		bytes.Join(jsonMessages(100, 1024, 32), nil), randomBytes(50_000, 33), bytes.Repeat([]byte("é"), 70_000)}

	type result struct {
		got [][]byte
		ops []OpCode
		err error
	}
	done := make(chan result, 1)
	c := &Deflate{Mode: ModeContextTakeover, MinSize: 0}
	go func() {
		var r result
		r.got, r.ops, r.err = serveCodec(ln, c, len(msgs))
		done <- r
	}()

	d := websocket.Dialer{EnableCompression: true, WriteBufferSize: 512, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial("ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != respBoth {
		t.Fatalf("answered %q", ext)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, m := range msgs {
		op := websocket.BinaryMessage
		if i%2 == 1 {
			op = websocket.TextMessage
		}
		if err := ws.WriteMessage(op, m); err != nil {
			t.Fatal(err)
		}
	}
	// The server echoes each message, compressed by AppendMessage.
	for i, m := range msgs {
		typ, got, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("gorilla reading echo %d: %v", i, err)
		}
		if want := websocket.BinaryMessage + i%2*(websocket.TextMessage-websocket.BinaryMessage); typ != want || !bytes.Equal(got, m) {
			t.Fatalf("echo %d: type %d, %d bytes, want %d bytes", i, typ, len(got), len(m))
		}
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	for i, m := range msgs {
		if !bytes.Equal(r.got[i], m) || (r.ops[i] == OpText) != (i%2 == 1) {
			t.Fatalf("message %d: codec decoded %d bytes as %v, gorilla sent %d", i, len(r.got[i]), r.ops[i], len(m))
		}
	}
}

// serveCodec accepts one connection, answers its upgrade with Negotiate,
// decodes n messages with a Decoder and echoes each with AppendMessage.
func serveCodec(ln net.Listener, c *Deflate, n int) ([][]byte, []OpCode, error) {
	conn, err := ln.Accept()
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	var p Params
	for _, v := range req.Header.Values("Sec-WebSocket-Extensions") {
		c.Negotiate(&p, []byte(v))
	}
	if !p.Enabled() {
		return nil, nil, errors.New("compression not negotiated")
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\nSec-WebSocket-Extensions: " + string(p.AppendResponse(nil)) + "\r\n\r\n"
	if _, err := conn.Write([]byte(resp)); err != nil {
		return nil, nil, err
	}
	var dec tdec
	dec.Init(&Config{MaxMessageSize: 1 << 20})
	dec.SetDeflate(p)
	h := &echoHandler{c: c, p: p}
	var tail []byte
	buf := make([]byte, 4096)
	for len(h.got) < n {
		k, err := br.Read(buf)
		if err != nil {
			return nil, nil, err
		}
		in := append(tail, buf[:k]...)
		used, err := dec.Feed(in, h)
		if err != nil {
			return nil, nil, err
		}
		tail = append(in[:0], in[used:]...)
		if _, err := conn.Write(h.out); err != nil {
			return nil, nil, err
		}
		h.out = h.out[:0]
	}
	return h.got, h.ops, nil
}

type echoHandler struct {
	recorder
	c   *Deflate
	p   Params
	got [][]byte
	ops []OpCode
	out []byte
}

func (h *echoHandler) OnMessage(op OpCode, p []byte) error {
	h.got = append(h.got, bytes.Clone(p))
	h.ops = append(h.ops, op)
	h.out, _ = h.c.AppendMessage(h.out, h.p, op, p)
	return nil
}

// python runs Debian's Python (zlib, an implementation independent of
// Go's) with script, one request per line on stdin, one answer per line.
func python(t *testing.T, script string, lines []string) []string {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		if v, _ := strconv.ParseBool(os.Getenv("CI")); v {
			t.Fatalf("%s is required in CI for the zlib interop test", py)
		}
		t.Skipf("%s not found: zlib interop not run", py)
	}
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("python: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

const zlibScript = `
import sys, zlib, base64
b64d, b64e = base64.b64decode, lambda b: base64.b64encode(b).decode()
for line in sys.stdin:
    cmd, bits, data = line.split()
    bits = int(bits)
    if cmd == "inflate":   # one message, window 2^bits: refuses farther references
        # 16 bytes of output per call: zlib then has only its 2^bits window
        # to copy from (with the whole output in one buffer it would not
        # enforce the window).
        d, buf, out = zlib.decompressobj(wbits=-bits), b64d(data) + b"\x00\x00\xff\xff", []
        try:
            while True:
                chunk = d.decompress(buf, 16)
                buf = d.unconsumed_tail
                out.append(chunk)
                if not chunk and not buf:
                    break
            print(b64e(b"".join(out)))
        except zlib.error as e:
            print("ERR", e)
    else:                  # "deflate": messages with one compressor (context takeover)
        c, out = zlib.compressobj(9, zlib.DEFLATED, -bits), []
        for m in data.split(","):
            z = c.compress(b64d(m)) + c.flush(zlib.Z_SYNC_FLUSH)
            assert z.endswith(b"\x00\x00\xff\xff")
            out.append(b64e(z[:-4]))
        print(",".join(out))
`

// TestZlibWindowBits: what the encoder sends for server_max_window_bits=N
// is inflated by zlib with a 2^N-byte window, which refuses any
// back-reference farther than that (the check is real: the same payload
// compressed with a 32 KiB window is refused at N=9).
func TestZlibWindowBits(t *testing.T) {
	// Repeats at distances from 300 bytes to 20 KB.
	pl := bytes.Join([][]byte{randomBytes(300, 41), randomBytes(300, 41), randomBytes(5000, 42), randomBytes(5000, 42),
		randomBytes(20000, 43), randomBytes(20000, 43), bytes.Join(jsonMessages(40, 800, 44), nil)}, nil)
	var lines []string
	for bits := uint8(8); bits <= 15; bits++ {
		out, ok := deflateNCT.AppendMessage(nil, Params{ServerMaxWindowBits: bits, ClientMaxWindowBits: 15}, OpBinary, pl)
		_, z, _ := readServerFrame(t, out)
		if !ok {
			t.Fatalf("bits %d: not compressed", bits)
		}
		lines = append(lines, "inflate "+strconv.Itoa(int(bits))+" "+base64.StdEncoding.EncodeToString(z))
	}
	full, _ := AppendCompressed(nil, OpBinary, pl, 1)
	_, z, _ := readServerFrame(t, full)
	lines = append(lines, "inflate 9 "+base64.StdEncoding.EncodeToString(z))
	got := python(t, zlibScript, lines)
	for i, bits := 0, 8; bits <= 15; i, bits = i+1, bits+1 {
		if dec, err := base64.StdEncoding.DecodeString(got[i]); err != nil || !bytes.Equal(dec, pl) {
			t.Fatalf("bits %d: zlib with a %d-byte window: %.60s", bits, 1<<bits, got[i])
		}
	}
	if !strings.HasPrefix(got[len(got)-1], "ERR") {
		t.Fatalf("a 32 KiB-window stream inflated in 512 bytes of window: %.60s", got[len(got)-1])
	}
}

// TestZlibContextTakeover: a zlib compressor kept across messages (as
// Python websockets, Node's ws and browsers do) with window bits 9..15, as
// agreed by client_max_window_bits, decoded with the window the decoder
// keeps.
func TestZlibContextTakeover(t *testing.T) {
	msgs := append(jsonMessages(30, 600, 51), randomBytes(3000, 52), []byte{})
	msgs = append(msgs, jsonMessages(30, 1500, 53)...)
	enc := make([]string, len(msgs))
	for i, m := range msgs {
		enc[i] = base64.StdEncoding.EncodeToString(m)
	}
	var lines []string
	for bits := 9; bits <= 15; bits++ {
		lines = append(lines, "deflate "+strconv.Itoa(bits)+" "+strings.Join(enc, ","))
	}
	for i, line := range python(t, zlibScript, lines) {
		bits := uint8(9 + i)
		var in []byte
		var want []event
		for j, s := range strings.Split(line, ",") {
			z, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				t.Fatal(err)
			}
			op := OpText
			if j == 30 { // the random bytes
				op = OpBinary
			}
			in = append(in, zf(op, true, true, z)...)
			want = append(want, msg(op, string(msgs[j])))
		}
		p := Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: bits}
		if o := feedSplitP(t, server, p, bytes.Clone(in), splitter(uint64(bits))); !sameOutcome(o, outcome{events: want}) {
			t.Fatalf("zlib context takeover, %d window bits: %v", bits, o)
		}
		if bits == 9 {
			// zlib cannot compress with 8 bits and uses 9 when asked for 8:
			// a decoder that agreed 8 keeps 512 bytes and understands it.
			p.ClientMaxWindowBits = 8
			if o := feedSplitP(t, server, p, in, splitter(8)); !sameOutcome(o, outcome{events: want}) {
				t.Fatalf("zlib's 9-bit stream on an 8-bit agreement: %v", o)
			}
		}
	}
}
