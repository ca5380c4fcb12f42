package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The examples of docs/api.md run against a listener with a stand-in node
// that answers what the page shows.

const docPath = "../docs/api.md"

type block struct{ lang, text string }

// docBlocks returns the fenced code blocks of docs/api.md in order; a block
// that follows another with only blank lines between is marked by follows.
func docBlocks(t *testing.T) (blocks []block, follows []bool) {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?ms)^```(\\w*)[^\\n]*\\n(.*?)^```\\n")
	last := -1
	for _, m := range re.FindAllSubmatchIndex(b, -1) {
		blocks = append(blocks, block{string(b[m[2]:m[3]]), string(b[m[4]:m[5]])})
		follows = append(follows, last >= 0 && strings.TrimSpace(string(b[last:m[0]])) == "")
		last = m[1]
	}
	return blocks, follows
}

// docNode answers as the examples of docs/api.md show.
func docNode() *fakeNode {
	return &fakeNode{
		affected: Affected{Connections: 2},
		clients: []Client{
			{Client: "n1-7f3a", User: "42", Info: json.RawMessage(`{"name":"Ann"}`)},
			{Client: "n2-01bc", User: "77"},
		},
		stats:    PresenceStats{NumClients: 2, NumUsers: 2},
		channels: map[string]ChannelStats{"chat:lobby": {130}, "chat:support": {2}, "news": {9}},
		nodes: []NodeInfo{
			{Name: "ws-1:8080", NumClients: 1520, NumSubscriptions: 3011, Uptime: 86400},
			{Name: "ws-2:8080", NumClients: 1498, NumSubscriptions: 2950, Uptime: 3600},
		},
	}
}

func sameJSON(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

func TestDocExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed to run the examples of docs/api.md")
	}
	f := docNode()
	l, err := Serve(f, Config{Key: testKey}, ListenConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop(t.Context())
	blocks, follows := docBlocks(t)
	methods := map[string]bool{}
	for i := 1; i < len(blocks); i++ {
		cmd, answer := blocks[i-1], blocks[i]
		if cmd.lang != "sh" || answer.lang != "json" || !follows[i] || !strings.HasPrefix(cmd.text, "curl ") {
			continue
		}
		line := strings.TrimSpace(cmd.text)
		if strings.Count(line, "\n") != 0 || !strings.Contains(line, "http://127.0.0.1:8000/api/") {
			t.Fatalf("example is not one curl command to the documented address: %q", line)
		}
		methods[line[strings.LastIndex(line, "/")+1:]] = true
		line = strings.ReplaceAll(line, "127.0.0.1:8000", l.Addr().String())
		sh := exec.Command("sh", "-c", line)
		sh.Env = append(os.Environ(), "WSEDGE_API_KEY="+testKey)
		out, err := sh.Output()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if !sameJSON(string(out), answer.text) {
			t.Errorf("%s\n answered %s\n the page shows %s", line, out, answer.text)
		}
	}
	for _, m := range methodNames {
		if !methods[m] {
			t.Errorf("docs/api.md has no curl example for %s", m)
		}
	}
}

// pythonBlock returns the Python example of docs/api.md that contains marker.
func pythonBlock(t *testing.T, marker string) string {
	blocks, _ := docBlocks(t)
	for _, b := range blocks {
		if b.lang == "python" && strings.Contains(b.text, marker) {
			return b.text
		}
	}
	t.Fatalf("docs/api.md has no Python example with %q", marker)
	return ""
}

func python(t *testing.T) string {
	const p = "/usr/bin/python3" // Debian's; the CI image has it
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is needed to run the Python examples of docs/api.md", p)
	}
	return p
}

func TestDocPython(t *testing.T) {
	f := docNode()
	l, err := Serve(f, Config{Key: testKey}, ListenConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop(t.Context())
	script := filepath.Join(t.TempDir(), "publish.py")
	os.WriteFile(script, []byte(pythonBlock(t, "def call(")), 0o600)
	cmd := exec.Command(python(t), script)
	cmd.Env = append(os.Environ(), "WSEDGE_API_URL=http://"+l.Addr().String(), "WSEDGE_API_KEY="+testKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if string(out) != "online: 2\nrefused: 400 INVALID_REQUEST\n" {
		t.Errorf("output %q", out)
	}
	if calls := f.Calls(); !slices.Equal(calls, []string{`publish news {"text": "hello from Python"}`, "presence_stats chat:support"}) {
		t.Errorf("node calls %q", calls)
	}
}

func TestDocPythonRPC(t *testing.T) {
	script := filepath.Join(t.TempDir(), "rpc.py")
	os.WriteFile(script, []byte(pythonBlock(t, "def do_POST(")), 0o600)
	cmd := exec.Command(python(t), script)
	cmd.Env = append(os.Environ(), "PORT=0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	port, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the backend did not print its port: %v", err)
	}
	url := "http://127.0.0.1:" + strings.TrimSpace(port) + "/rpc"
	c := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct{ req, want string }{
		{`{"client":"n1-7f3a","user":"42","info":{"name":"Ann"},"method":"getProfile","data":{"id":42}}`, `{"result":{"name":"Ann","plan":"pro"}}`},
		{`{"client":"n1-7f3a","user":"42","method":"getProfile","data":{"id":7}}`, `{"error":{"code":"NOT_FOUND","message":"no such profile"}}`},
		{`{"client":"n1-7f3a","user":"42","method":"nope"}`, `{"error":{"code":404,"message":"unknown method nope"}}`},
	} {
		res, err := c.Post(url, "application/json", bytes.NewReader([]byte(tc.req)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !sameJSON(string(b), tc.want) {
			t.Errorf("%s: %d %s, want 200 %s", tc.req, res.StatusCode, b, tc.want)
		}
	}
	// The page quotes these answers in its prose.
	page, _ := os.ReadFile(docPath)
	for _, s := range []string{`{"result":{"name":"Ann","plan":"pro"}}`, `{"error":{"code":"NOT_FOUND","message":"no such profile"}}`, `{"error":{"code":404,"message":"unknown method nope"}}`} {
		if !bytes.Contains(page, []byte(s)) {
			t.Errorf("docs/api.md does not show %s", s)
		}
	}
}
