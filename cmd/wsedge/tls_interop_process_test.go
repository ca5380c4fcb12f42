package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	be "encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/internal/testcert"
)

// Interop of the built binary's TLS with independent TLS stacks, on both
// record layers: Go's crypto/tls (under gorilla/websocket; TLS 1.3 and
// 1.2), OpenSSL's s_client (with KeyUpdates both ways), Python's ssl module
// under python3-websockets, and Node's TLS under the ws package (Chromium:
// server/browser_test.go). Every client echoes messages both ways, large
// ones included, goes quiet for longer than -tls-cipher-idle, and echoes
// again; the server's metrics say which record layer each session ran on
// and that the quiet period dropped the cipher state.

const (
	interopCipherIdle = 100 * time.Millisecond
	interopQuiet      = 600 * time.Millisecond // > 2 x -tls-cipher-idle: the state is gone
)

// interopClient runs one client against url; it returns the TLS version
// ("1.3", "1.2") the session used.
type interopClient struct {
	name string
	run  func(t *testing.T, url, caFile string, pool *x509.CertPool) string
}

var interopClients = []interopClient{
	{"go-crypto-tls-1.3", func(t *testing.T, url, _ string, pool *x509.CertPool) string {
		return goClient(t, url, pool, tls.VersionTLS13)
	}},
	{"go-crypto-tls-1.2", func(t *testing.T, url, _ string, pool *x509.CertPool) string {
		return goClient(t, url, pool, tls.VersionTLS12)
	}},
	{"openssl-s_client", opensslClient},
	{"python-ssl-websockets", pythonClient},
	{"node-ws", nodeClient},
}

func TestBinaryTLSInterop(t *testing.T) {
	certFile, keyFile, pool := testcert.Write(t, t.TempDir(), 1)
	for _, layer := range []string{"compact", "stdlib"} {
		t.Run(layer, func(t *testing.T) {
			node := startNode(t, nil, "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0",
				"-tls-cert", certFile, "-tls-key", keyFile, "-tls-record-layer", layer,
				"-tls-cipher-idle", interopCipherIdle.String(), "-max-message-size", "1MiB")
			started := node.log.wait(t, "wsedge started")
			listen, _ := started["listen"].(string)
			admin, _ := started["admin_listen"].(string)
			url := "wss://" + listen + "/echo"
			for _, c := range interopClients {
				t.Run(c.name, func(t *testing.T) {
					before := scrape(t, admin)
					version := c.run(t, url, certFile, pool)
					after := scrape(t, admin)
					want := layer
					if version == "1.2" {
						want = "stdlib" // TLS 1.2 stays on crypto/tls
					}
					sessions := fmt.Sprintf(`wsedge_tls_sessions_total{record_layer=%q,version=%q}`, want, version)
					if got := after.value(sessions) - before.value(sessions); got != 1 {
						t.Errorf("%s went up by %v, want 1", sessions, got)
					}
					drops := after.value("wsedge_tls_cipher_drops_total") - before.value("wsedge_tls_cipher_drops_total")
					if want == "compact" && drops < 1 {
						t.Errorf("the quiet period dropped no cipher state (wsedge_tls_cipher_drops_total +%v)", drops)
					}
					if want == "stdlib" && drops != 0 {
						t.Errorf("a crypto/tls session counted %v cipher state drops", drops)
					}
				})
			}
		})
	}
}

// metricsText is one scrape of /metrics.
type metricsText string

func scrape(t *testing.T, admin string) metricsText {
	t.Helper()
	code, body := httpGet(t, "http://"+admin+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	return metricsText(body)
}

// value is the sample of the series written exactly as series; 0 when it
// is absent (a labelled counter not yet touched).
func (m metricsText) value(series string) float64 {
	for _, l := range strings.Split(string(m), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// payload is n bytes of a pattern with every byte value.
func payload(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8 + seed)
	}
	return b
}

var echoSizes = []int{0, 1, 125, 126, 16384, 16385, 100000, 300000}

func goClient(t *testing.T, url string, pool *x509.CertPool, max uint16) string {
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: max}, HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	echo := func(typ int, msg []byte) {
		t.Helper()
		if err := c.WriteMessage(typ, msg); err != nil {
			t.Fatalf("write %d bytes: %v", len(msg), err)
		}
		gt, got, err := c.ReadMessage()
		if err != nil || gt != typ || !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes: got type %d, %d bytes, %v", len(msg), gt, len(got), err)
		}
	}
	for i, n := range echoSizes {
		echo(websocket.BinaryMessage, payload(n, i))
		echo(websocket.TextMessage, []byte(strings.Repeat("κόσμε🙂", n/12)))
	}
	time.Sleep(interopQuiet)
	echo(websocket.BinaryMessage, payload(300000, 99))
	echo(websocket.TextMessage, []byte("after the quiet period"))
	version := tlsVersion(c.UnderlyingConn().(*tls.Conn).ConnectionState().Version)
	c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(5*time.Second))
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, 1000) {
		t.Fatalf("close: %v, want the server's 1000", err)
	}
	return version
}

func tlsVersion(v uint16) string {
	return strings.TrimPrefix(tls.VersionName(v), "TLS ")
}

// needTool finds an external client, or skips (fails under CI=true, where
// .ci/run installs it).
func needTool(t *testing.T, what, how string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s is required in CI: %s", what, how)
	}
	t.Skipf("%s not available: %s", what, how)
}

func pythonClient(t *testing.T, url, caFile string, _ *x509.CertPool) string {
	const py = "/usr/bin/python3" // Debian's, with python3-websockets (the pyenv one on PATH has none)
	err := exec.Command(py, "-c", "import websockets").Run()
	needTool(t, "Debian's python3-websockets", "apt-get install -y python3-websockets", err == nil)
	return runClient(t, exec.Command(py, filepath.Join("testdata", "tls-interop", "client.py"),
		url, caFile, strconv.FormatFloat(interopQuiet.Seconds(), 'f', 3, 64)))
}

func nodeClient(t *testing.T, url, caFile string, _ *x509.CertPool) string {
	dir := filepath.Join("testdata", "tls-interop")
	node, err := exec.LookPath("node")
	needTool(t, "node", "apt-get install -y nodejs", err == nil)
	_, err = os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json"))
	needTool(t, "the ws package", "npm ci --prefix cmd/wsedge/testdata/tls-interop (.ci/run does it)", err == nil)
	return runClient(t, exec.Command(node, filepath.Join(dir, "client.mjs"), url, caFile, strconv.Itoa(int(interopQuiet.Milliseconds()))))
}

// runClient runs a client script that prints "ok TLSv1.x" when every check
// passed, and returns the version.
func runClient(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", filepath.Base(cmd.Path), err, out.String(), errOut.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("client did not finish within 60 s\nstdout: %s\nstderr: %s", out.String(), errOut.String())
	}
	m := regexp.MustCompile(`(?m)^ok TLSv(1\.[23])$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("client output %q, want ok TLSv1.x", out.String())
	}
	return m[1]
}

// opensslClient speaks WebSocket through openssl s_client: the upgrade
// request and masked frames go to its stdin, the answer comes back on its
// stdout (-brief keeps everything else on stderr). Its "k" and "K"
// commands send a KeyUpdate, without and with update_requested; -msgfile
// records the handshake messages both ways. A read of s_client's stdin that
// starts with a command letter is a command, so every payload is drawn
// from bytes that are none (lowercase letters but k, digits) and the mask
// key is zero: masked bytes are the payload's.
func opensslClient(t *testing.T, url, caFile string, _ *x509.CertPool) string {
	bin, err := exec.LookPath("openssl")
	needTool(t, "openssl", "apt-get install -y openssl", err == nil)
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "wss://"), "/echo")
	msgFile := filepath.Join(t.TempDir(), "msg.txt")
	cmd := exec.Command(bin, "s_client", "-connect", addr, "-tls1_3", "-CAfile", caFile, "-verify_return_error",
		"-brief", "-msg", "-msgfile", msgFile)
	stdin, _ := cmd.StdinPipe()
	// Its stdout is a pipe of the test's own, not StdoutPipe: Wait (below,
	// concurrent with the reads) closes a StdoutPipe once s_client exits,
	// which it does as soon as the server closes after its close frame, so
	// the frame could be lost unread ("read |0: file already closed", seen
	// in CI). Here the read end stays open until every byte is read.
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	cmd.Stdout = stdoutW
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	err = cmd.Start()
	stdoutW.Close() // s_client has its copy
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\ns_client stderr:\n%s", append(args, stderr.String())...)
	}
	// awaitStderr waits for s_client to say it did something.
	awaitStderr := func(want string, count int) {
		t.Helper()
		for end := time.Now().Add(15 * time.Second); strings.Count(stderr.String(), want) < count; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				fail("no %q (x%d) from s_client", want, count)
			}
		}
	}
	awaitStderr("CONNECTION ESTABLISHED", 1)
	br := bufio.NewReader(stdout)
	io.WriteString(stdin, "GET /echo HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	status, err := br.ReadString('\n')
	if err != nil || status != "HTTP/1.1 101 Switching Protocols\r\n" {
		fail("upgrade: %q %v", status, err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			fail("upgrade response: %v", err)
		}
		if l == "\r\n" {
			break
		}
	}
	echo := func(n int) {
		t.Helper()
		msg := make([]byte, n)
		const alphabet = "abcdefghijlmnopqrstuvwxyz0123456789" // no k: s_client's key update command
		for i := range msg {
			msg[i] = alphabet[(i*7+n)%len(alphabet)]
		}
		if _, err := stdin.Write(codec.AppendClientFrame(nil, codec.OpText, true, [4]byte{}, msg)); err != nil {
			fail("write: %v", err)
		}
		op, got, err := readServerFrame(br)
		if err != nil || op != codec.OpText || !bytes.Equal(got, msg) {
			fail("echo of %d bytes: opcode %d, %d bytes, %v", n, op, len(got), err)
		}
	}
	for _, n := range echoSizes {
		echo(n)
	}
	io.WriteString(stdin, "k\n") // KeyUpdate, update_not_requested
	awaitStderr("KEYUPDATE", 1)
	echo(100)                    // sealed under the client's next key
	io.WriteString(stdin, "K\n") // KeyUpdate, update_requested: the server must answer with its own
	awaitStderr("KEYUPDATE", 2)
	// The answer comes at once, with no data to carry it.
	for end := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if msgs, _ := os.ReadFile(msgFile); bytes.Contains(msgs, []byte("<<< TLS 1.3, Handshake [length 0005], KeyUpdate")) {
			break
		}
		if time.Now().After(end) {
			fail("the server did not answer the KeyUpdate that asked for one")
		}
	}
	echo(300000) // sealed under the server's next key
	time.Sleep(interopQuiet)
	echo(300000)
	echo(10)
	stdin.Write(codec.AppendClientClose(nil, [4]byte{}, 1000, ""))
	if op, p, err := readServerFrame(br); err != nil || op != codec.OpClose || len(p) < 2 || be.BigEndian.Uint16(p) != 1000 {
		fail("close: opcode %d payload %x, %v; want the server's 1000", op, p, err)
	}
	stdin.Close() // s_client sends close_notify and exits
	select {
	case <-exited:
		exited <- nil
	case <-time.After(10 * time.Second):
		fail("s_client did not exit after stdin closed")
	}
	msgs, _ := os.ReadFile(msgFile)
	sent := strings.Count(string(msgs), ">>> TLS 1.3, Handshake [length 0005], KeyUpdate")
	got := strings.Count(string(msgs), "<<< TLS 1.3, Handshake [length 0005], KeyUpdate")
	if sent != 2 || got != 1 {
		fail("KeyUpdates sent %d, received %d; want 2 and 1 (the answer to K):\n%s", sent, got, msgs)
	}
	if !strings.Contains(stderr.String(), "Protocol version: TLSv1.3") {
		fail("s_client did not report TLS 1.3")
	}
	return "1.3"
}

// readServerFrame reads one unmasked, unfragmented server frame.
func readServerFrame(r *bufio.Reader) (codec.OpCode, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		return 0, nil, errors.New("fragmented or masked server frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(be.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = be.BigEndian.Uint64(b[:])
	}
	if n > 4<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return codec.OpCode(h[0] & 0x0f), p, err
}

// lockedBuffer is a bytes.Buffer written by a process and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
