package server

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/perm"
)

// pythonExample returns the Python block of docs/api.md that contains marker.
func pythonExample(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("(?ms)^```python\\n(.*?)^```\\n").FindAllSubmatch(b, -1) {
		if strings.Contains(string(m[1]), marker) {
			return string(m[1])
		}
	}
	t.Fatalf("docs/api.md has no Python example with %q", marker)
	return ""
}

// The Python examples of docs/api.md against a real node: the RPC backend answers a client's
// rpc through wsedge, and the publishing backend reaches a subscriber and reads presence.
func TestDocPythonEndToEnd(t *testing.T) {
	const py = "/usr/bin/python3" // Debian's
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("%s is needed to run the Python examples of docs/api.md", py)
	}
	dir := t.TempDir()
	rpcPy := filepath.Join(dir, "rpc.py")
	os.WriteFile(rpcPy, []byte(pythonExample(t, "def do_POST(")), 0o600)
	backend := exec.Command(py, rpcPy)
	backend.Env = append(os.Environ(), "PORT=0")
	out, err := backend.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { backend.Process.Kill(); backend.Wait() }()
	port, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the backend did not print its port: %v", err)
	}

	o := backendOptions()
	o.ProxyRPCURL = "http://127.0.0.1:" + strings.TrimSpace(port) + "/rpc"
	o.Namespaces = append(o.Namespaces, perm.Namespace{Name: "chat", Subscribe: perm.SubscribeAnyone, Publish: perm.PublishSubscribers, Presence: true})
	s := startServer(t, o)
	base := apiURL(t, s)

	c := dialUser(t, s, "42", `{"name":"Ann"}`)
	for _, x := range []struct{ req, want string }{
		{`{"type":"rpc","id":"1","method":"getProfile","data":{"id":42}}`, `{"type":"rpc","id":"1","data":{"name":"Ann","plan":"pro"}}`},
		{`{"type":"rpc","id":"2","method":"getProfile","data":{"id":7}}`, `{"type":"error","id":"2","error":{"code":"NOT_FOUND","message":"no such profile"}}`},
		{`{"type":"rpc","id":"3","method":"nope"}`, `{"type":"error","id":"3","error":{"code":404,"message":"unknown method nope"}}`},
	} {
		// The result passes through byte for byte, as Python's json.dumps spaced it.
		c.send(t, x.req)
		if got := c.recv(t); !sameJSON(string(got), x.want) {
			t.Fatalf("%s: got %s, want %s", x.req, got, x.want)
		}
	}

	subscribe(t, c, "news")
	subscribe(t, c, "chat:support")
	pubPy := filepath.Join(dir, "publish.py")
	os.WriteFile(pubPy, []byte(pythonExample(t, "def call(")), 0o600)
	cmd := exec.Command(py, pubPy)
	cmd.Env = append(os.Environ(), "WSEDGE_API_URL="+base, "WSEDGE_API_KEY="+testAPIKey)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v:\n%s", err, got)
	}
	if string(got) != "online: 1\nrefused: 400 INVALID_REQUEST\n" {
		t.Fatalf("publish.py printed %q", got)
	}
	expectMsg(t, c, `{"type":"message","channel":"news","data":{"text": "hello from Python"}}`) // data byte for byte
}
