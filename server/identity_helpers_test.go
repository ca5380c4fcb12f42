package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wsedge/wsedge/routing"
)

// The identity tests mint tokens with golang-jwt (cases no library would
// produce are built by hand) and, for independence from the verifier's own
// library, with PyJWT (Debian's python3-jwt, as in package auth).

const idSecret = "identity-test-secret-of-at-least-32-bytes"

// idOptions are testOptions with HS256 tokens on and a fine timer wheel.
func idOptions() Options {
	o := testOptions()
	o.JWTHMACSecret = idSecret
	o.JWTLeeway = 0
	o.Tick = 10 * time.Millisecond
	return o
}

// hs256 signs claims with idSecret; exp defaults to an hour from now.
func hs256(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return signHS(t, idSecret, claims)
}

func signHS(t testing.TB, secret string, claims jwt.MapClaims) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// userToken is a connection token for user.
func userToken(t testing.TB, user string) string { return hs256(t, jwt.MapClaims{"sub": user}) }

// startIDServer starts s with a "whoami" message type that answers the
// session's identity: {"user","info","expires","headers"}.
func startIDServer(t testing.TB, o Options) *Server {
	t.Helper()
	return startWith(t, o, logger(t), func(s *Server) { s.Router().Handle("whoami", whoami) })
}

func whoami(c *routing.Context) error {
	sess := c.Session()
	v := map[string]any{"user": sess.User(), "expires": sess.Expires()}
	if info := sess.Info(); info != nil {
		v["info"] = json.RawMessage(info)
	}
	if h := Headers(sess); h != nil {
		v["headers"] = h
	}
	return c.ReplyJSON("whoami", v)
}

// logs collects every log line of the servers a test starts, so tests can
// check that no token ever reaches one.
var logs struct {
	sync.Mutex
	byTest map[testing.TB]*observer.ObservedLogs
}

// logger is a debug-level logger whose lines the test can inspect
// (testLogs).
func logger(t testing.TB) *zap.Logger {
	core, obs := observer.New(zap.DebugLevel)
	logs.Lock()
	if logs.byTest == nil {
		logs.byTest = map[testing.TB]*observer.ObservedLogs{}
	}
	logs.byTest[t] = obs
	logs.Unlock()
	t.Cleanup(func() {
		logs.Lock()
		delete(logs.byTest, t)
		logs.Unlock()
	})
	return zap.New(core)
}

// testLogs is every line logged so far by t's servers, encoded as JSON.
func testLogs(t testing.TB) string {
	logs.Lock()
	obs := logs.byTest[t]
	logs.Unlock()
	var b strings.Builder
	for _, e := range obs.All() {
		line, _ := json.Marshal(map[string]any{"msg": e.Message, "fields": e.ContextMap()})
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// expectNoToken fails when any of the tokens (or their signature part)
// appears in t's logs.
func expectNoToken(t testing.TB, tokens ...string) {
	t.Helper()
	all := testLogs(t)
	for _, tok := range tokens {
		sig := tok
		if i := strings.LastIndexByte(tok, '.'); i >= 0 {
			sig = tok[i+1:]
		}
		if strings.Contains(all, tok) || (len(sig) > 8 && strings.Contains(all, sig)) {
			t.Fatalf("a token reached the log:\n%s", all)
		}
	}
}

// upgradeWith sends a /ws (or other path) upgrade request with extra header
// lines and returns the answer: a *rawClient on 101, else the status and
// body (the server must then close the connection).
func upgradeWith(t testing.TB, s *Server, target, extra string) (status int, hdr http.Header, body string, rc *rawClient) {
	t.Helper()
	c := rawDial(t, s)
	if _, err := io.WriteString(c, upgradeRequest(target, extra)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("upgrade %s: %v", target, err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, resp.Header, "", &rawClient{t: t, conn: c, br: br}
	}
	b, _ := io.ReadAll(resp.Body)
	limExpectEOF(t, c, br)
	return resp.StatusCode, resp.Header, string(b), nil
}

// readUpgrade reads the 101 answer on c, which must come.
func readUpgrade(t testing.TB, c net.Conn) *rawClient {
	t.Helper()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("upgrade answer: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("upgrade answered %d %q", resp.StatusCode, b)
	}
	return &rawClient{t: t, conn: c, br: br}
}

// bearer is the header line of a token.
func bearer(tok string) string { return "Authorization: Bearer " + tok + "\r\n" }

// roundTrip sends one text message on rc and returns the next text message.
func (r *rawClient) roundTrip(msg string) string {
	r.t.Helper()
	r.send(msgFrame(1, true, msg))
	return r.text()
}

// text reads the next frame, which must be a text frame.
func (r *rawClient) text() string {
	r.t.Helper()
	f, err := r.nextFrame(wsTimeout)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	if f.op != 1 {
		r.t.Fatalf("want a text frame, got op %d %q", f.op, f.payload)
	}
	return string(f.payload)
}

// expectCloseReason reads until the close frame; its code must be code.
func (r *rawClient) expectCloseReason(code uint16) string {
	r.t.Helper()
	for {
		f, err := r.nextFrame(wsTimeout)
		if err != nil {
			r.t.Fatalf("want close %d, got %v", code, err)
		}
		if f.op != 8 {
			continue
		}
		if got := uint16(closeCode(f)); got != code {
			r.t.Fatalf("want close %d, got %d %q", code, got, f.payload[min(2, len(f.payload)):])
		}
		return string(f.payload[2:])
	}
}

// jsonField decodes msg and returns field's value as JSON text.
func jsonField(t testing.TB, msg, field string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(msg), &m); err != nil {
		t.Fatalf("reply %s: %v", msg, err)
	}
	return string(m[field])
}

// mintItem is one token for PyJWT to mint (auth/testdata/mint.py).
type mintItem struct {
	Alg     string         `json:"alg"`
	Secret  string         `json:"secret,omitempty"`
	KeyFile string         `json:"key_file,omitempty"`
	Payload map[string]any `json:"payload"`
	Headers map[string]any `json:"headers,omitempty"`
}

// pyMint mints tokens with PyJWT; without it the test fails in CI and is
// skipped elsewhere.
func pyMint(t testing.TB, items []mintItem) []string {
	t.Helper()
	const python = "/usr/bin/python3" // Debian's, with python3-jwt
	if err := exec.Command(python, "-c", "import jwt, cryptography").Run(); err != nil {
		msg := "PyJWT is missing: apt-get install -y python3-jwt python3-cryptography"
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	in, _ := json.Marshal(map[string]any{"items": items})
	cmd := exec.Command(python, "../auth/testdata/mint.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mint.py: %v: %s", err, stderr.String())
	}
	var toks []string
	if err := json.Unmarshal(out, &toks); err != nil || len(toks) != len(items) {
		t.Fatalf("mint.py answered %q (%v)", out, err)
	}
	return toks
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

func routingPublishOptions() routing.PublishOptions { return routing.PublishOptions{} }

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
