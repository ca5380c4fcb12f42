package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/perm"
	"github.com/wsedge/wsedge/server"
)

const secret32 = "0123456789abcdef0123456789abcdef"

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodFile = `# a complete example (docs/auth.md uses the same keys)
addr: 127.0.0.1:9000
max-conns: 5000
idle-timeout: 90s
max-message-size: 1MiB
limit-loopback: true
conn-rate: 0.5
allowed-origins:
  - https://app.example.com
  - https://*.example.com
jwt-hmac-secret: "` + secret32 + `"
jwt-audience: app
jwt-issuer: backend
jwt-leeway: 2s
proxy-subscribe-url: http://127.0.0.1:3000/subscribe
proxy-timeout: 1500ms
namespaces:
  - name: chat
    subscribe: authenticated
    publish: subscribers
    presence: true
    join_leave: true
  - name: billing
    subscribe: proxy
  - name: ""
    subscribe: anyone
    publish: none
`

func TestConfigFileGood(t *testing.T) {
	path := writeFile(t, "wsedge.yaml", goodFile)
	got, err := parseConfig([]string{"-config", path}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := server.Defaults()
	want.ConfigFile = path
	want.Addr, want.MaxConns, want.IdleTimeout, want.MaxMessageSize = "127.0.0.1:9000", 5000, 90*time.Second, 1<<20
	want.LimitLoopback, want.ConnRate = true, 0.5
	want.AllowedOrigins = "https://app.example.com,https://*.example.com"
	want.JWTHMACSecret, want.JWTAudience, want.JWTIssuer, want.JWTLeeway = secret32, "app", "backend", 2*time.Second
	want.ProxySubscribeURL, want.ProxyTimeout = "http://127.0.0.1:3000/subscribe", 1500*time.Millisecond
	want.Namespaces = []perm.Namespace{
		{Name: "chat", Subscribe: perm.SubscribeAuthenticated, Publish: perm.PublishSubscribers, Presence: true, JoinLeave: true},
		{Name: "billing", Subscribe: perm.SubscribeProxy, Publish: perm.PublishNone},
		{Name: "", Subscribe: perm.SubscribeAnyone, Publish: perm.PublishNone},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for _, empty := range []string{"", "# only a comment\n"} {
		if _, err := parseConfig([]string{"-config", writeFile(t, "e.yaml", empty)}, envOf(nil)); err != nil {
			t.Errorf("file %q: %v", empty, err)
		}
	}
}

// TestConfigPrecedence: command line > environment > file > default, the
// file named by -config or by WSEDGE_CONFIG.
func TestConfigPrecedence(t *testing.T) {
	path := writeFile(t, "p.yaml", "max-conns: 5\nqueue: 50\nworkers: 3\nlog-level: debug\n")
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want func(o *server.Options)
	}{
		{"file over default", []string{"-config", path}, nil, func(o *server.Options) {}},
		{"env over file", []string{"-config", path}, map[string]string{"WSEDGE_MAX_CONNS": "6"}, func(o *server.Options) { o.MaxConns = 6 }},
		{"flag over env and file", []string{"-config", path, "-max-conns", "7"}, map[string]string{"WSEDGE_MAX_CONNS": "6"},
			func(o *server.Options) { o.MaxConns = 7 }},
		{"flag before -config still wins", []string{"-queue", "9", "-config", path}, nil, func(o *server.Options) { o.Queue = 9 }},
		{"file from WSEDGE_CONFIG", nil, map[string]string{"WSEDGE_CONFIG": path, "WSEDGE_WORKERS": "4"}, func(o *server.Options) { o.Workers = 4 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseConfig(c.args, envOf(c.env))
			if err != nil {
				t.Fatal(err)
			}
			want := server.Defaults()
			want.ConfigFile, want.MaxConns, want.Queue, want.Workers, want.LogLevel = path, 5, 50, 3, "debug"
			c.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
	// A bad file value is reported even where a flag overrides it.
	bad := writeFile(t, "b.yaml", "max-conns: lots\n")
	if _, err := parseConfig([]string{"-config", bad, "-max-conns", "3"}, envOf(nil)); err == nil ||
		err.Error() != bad+`:1: max-conns: "lots" is not a whole number` {
		t.Errorf("overridden bad value: %v", err)
	}
}

// TestConfigFileErrors: each bad file gives exactly the expected lines,
// each naming the file, the line and the key.
func TestConfigFileErrors(t *testing.T) {
	for _, c := range []struct {
		name, body string
		args       []string
		want       []string // after "FILE:"
	}{
		{"unknown key", "max_conns: 3\n-addr: x\nfoo: 1\n", nil, []string{
			"1: max_conns: unknown key (did you mean max-conns?)",
			"2: -addr: unknown key (did you mean addr?)",
			"3: foo: unknown key (keys are flag names without the dash, see wsedge -h, plus namespaces)"}},
		{"wrong types", "max-conns: lots\nidle-timeout: 30\nlimit-loopback: yes\naddr: [a, b]\ntls-cert: {a: 1}\nlog-level:\n", nil, []string{
			`1: max-conns: "lots" is not a whole number`,
			`2: idle-timeout: "30" is not a duration (use e.g. 500ms, 30s, 5m or 1h30m)`,
			`3: limit-loopback: "yes" is not a boolean (use true or false)`,
			`4: addr: want a single value, not a list`,
			`5: tls-cert: want a single value, not a mapping`,
			`6: log-level: no value (write "" for an empty string)`}},
		{"twice", "queue: 1\nqueue: 2\n", nil, []string{"2: queue: given twice"}},
		{"config in config", "config: other.yaml\n", nil, []string{"1: config: a config file cannot name another one"}},
		{"not a mapping", "- a\n- b\n", nil, []string{"1: the file must be a mapping of flag names (without the dash) to values"}},
		{"syntax", "addr: [1\nqueue: 2\n", nil, []string{" line 1: did not find expected ',' or ']'"}},
		{"two documents", "queue: 1\n---\nqueue: 2\n", nil, []string{"2: only one YAML document is allowed"}},
		{"namespaces not a list", "namespaces: {name: a}\n", nil, []string{"1: namespaces: want a list of {name, subscribe, publish, presence, join_leave}"}},
		{"bad namespaces", `namespaces:
  - name: a:b
  - subscribe: anyone
  - name: chat
    subscribe: everyone
    publish: sometimes
    presence: yes
    join_leave: 1
    color: red
  - name: chat
  - x
`, nil, []string{
			`2: namespaces[0].name: namespace name "a:b": ':' is not allowed (use A-Z a-z 0-9 _ . -)`,
			`3: namespaces[1]: no name (name: "" declares the default namespace)`,
			`5: namespaces[2].subscribe: "everyone" is not one of authenticated, anyone, token, proxy`,
			`6: namespaces[2].publish: "sometimes" is not one of none, subscribers, authenticated, anyone, proxy`,
			`7: namespaces[2].presence: "yes" is not a boolean (use true or false)`,
			`8: namespaces[2].join_leave: "1" is not a boolean (use true or false)`,
			`9: namespaces[2].color: unknown key (want name, subscribe, publish, presence, join_leave)`,
			`10: namespaces[3].name: namespace "chat" is declared twice`,
			`11: namespaces[4]: want a mapping {name, subscribe, publish, presence, join_leave}`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "bad.yaml", c.body)
			_, err := parseConfig(append([]string{"-config", path}, c.args...), envOf(nil))
			if err == nil {
				t.Fatal("accepted")
			}
			got := strings.Split(err.Error(), "\n")
			for i := range c.want {
				c.want[i] = path + ":" + c.want[i]
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}

// TestConfigSemanticErrors: problems found after reading (rules that need
// a flag, secrets, keys), all at once.
func TestConfigSemanticErrors(t *testing.T) {
	path := writeFile(t, "s.yaml", `proxy-timeout: 0s
namespaces:
  - name: private
    subscribe: token
  - name: billing
    subscribe: proxy
    publish: proxy
`)
	_, err := parseConfig([]string{"-config", path, "-jwt-public-key", writeFile(t, "k.pem", "not a key")}, envOf(nil))
	want := []string{
		`-proxy-timeout: must be positive`,
		`namespaces[1] "billing": subscribe: proxy needs -proxy-subscribe-url`,
		`namespaces[1] "billing": publish: proxy needs -proxy-publish-url`,
		`-jwt-public-key: ` + "" + `no PEM block found`,
	}
	if err == nil {
		t.Fatal("accepted")
	}
	got := strings.Split(err.Error(), "\n")
	want[3] = "-jwt-public-key: " + got[len(got)-1][len("-jwt-public-key: "):] // the path varies
	if !reflect.DeepEqual(got, want) || !strings.HasSuffix(got[3], "k.pem: no PEM block found") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// Without any JWT key, subscribe: token cannot work.
	tok := writeFile(t, "t.yaml", "namespaces:\n  - name: private\n    subscribe: token\n")
	if _, err := parseConfig([]string{"-config", tok}, envOf(nil)); err == nil ||
		err.Error() != `namespaces[0] "private": subscribe: token needs a JWT key (-jwt-hmac-secret, -jwt-public-key or -jwt-jwks-url)` {
		t.Errorf("token without key: %v", err)
	}
}

func TestSecretFile(t *testing.T) {
	f := writeFile(t, "secret", secret32+"\n")
	o, err := parseConfig([]string{"-jwt-hmac-secret-file", f}, envOf(nil))
	if err != nil || o.JWTHMACSecret != secret32 {
		t.Fatalf("secret %q, %v", o.JWTHMACSecret, err)
	}
	o, err = parseConfig(nil, envOf(map[string]string{"WSEDGE_JWT_HMAC_SECRET_FILE": f}))
	if err != nil || o.JWTHMACSecret != secret32 {
		t.Fatalf("from env: secret %q, %v", o.JWTHMACSecret, err)
	}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-jwt-hmac-secret-file", f, "-jwt-hmac-secret", secret32}, nil, "-jwt-hmac-secret-file: give it or -jwt-hmac-secret (WSEDGE_JWT_HMAC_SECRET), not both"},
		{[]string{"-jwt-hmac-secret", "short"}, nil, "-jwt-hmac-secret: 5 bytes is too short (want at least 32)"},
		{nil, map[string]string{"WSEDGE_JWT_HMAC_SECRET": "short"}, "-jwt-hmac-secret: 5 bytes is too short (want at least 32) (set by WSEDGE_JWT_HMAC_SECRET)"},
		{[]string{"-jwt-hmac-secret-file", writeFile(t, "empty", "\n")}, nil, "is empty"},
		{[]string{"-jwt-hmac-secret-file", "/nonexistent/secret"}, nil, "no such file"},
	} {
		_, err := parseConfig(c.args, envOf(c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q %v: got %v, want %q", c.args, c.env, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), secret32) {
			t.Errorf("error shows the secret: %v", err)
		}
	}
}

// TestCheckAndRedaction runs the built binary: -check exits 0 or 2 with
// one line per problem, and a started node logs the secret as "<redacted>".
func TestCheckAndRedaction(t *testing.T) {
	good := writeFile(t, "good.yaml", goodFile)
	code, out, errOut := runBinary(t, nil, "-config", good, "-check")
	if code != 0 || out != "wsedge: configuration OK\n" || errOut != "" {
		t.Errorf("good file: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	bad := writeFile(t, "bad.yaml", "max_conns: 3\nqueue: many\nnamespaces:\n  - name: x\n    publish: proxy\n")
	code, out, errOut = runBinary(t, nil, "-config", bad, "-check")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if code != 2 || out != "" || len(lines) != 2 ||
		lines[0] != "wsedge: "+bad+":1: max_conns: unknown key (did you mean max-conns?)" ||
		lines[1] != "wsedge: "+bad+`:2: queue: "many" is not a whole number` {
		t.Errorf("bad file: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	// The same file without -check: the node does not start, same lines.
	code, _, errOut2 := runBinary(t, nil, "-config", bad, "-addr", "127.0.0.1:0")
	if code != 2 || errOut2 != errOut {
		t.Errorf("bad file without -check: exit %d, stderr %q", code, errOut2)
	}

	node := startNode(t, []string{"WSEDGE_JWT_HMAC_SECRET=" + secret32}, "-addr", "127.0.0.1:0", "-admin-addr", "")
	started := node.log.wait(t, "wsedge started")
	cfg, _ := started["config"].(map[string]any)
	if cfg["jwt-hmac-secret"] != "<redacted>" {
		t.Errorf("startup log shows jwt-hmac-secret as %v", cfg["jwt-hmac-secret"])
	}
	node.log.mu.Lock()
	defer node.log.mu.Unlock()
	if strings.Contains(strings.Join(node.log.raw, "\n"), secret32) {
		t.Error("the secret appears in the log")
	}
}

// TestPublicKeyFile: a good PEM key file passes the check.
func TestPublicKeyFile(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	f := writeFile(t, "pub.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	o, err := parseConfig([]string{"-jwt-public-key", f}, envOf(nil))
	if err != nil || !o.AuthOn() {
		t.Fatalf("%v (auth on: %v)", err, o.AuthOn())
	}
	if _, err := parseConfig([]string{"-jwt-public-key", "/nonexistent.pem"}, envOf(nil)); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing key file: %v", err)
	}
}

// FuzzConfigFile: any file gives options or problems, one line each, never a
// panic.
func FuzzConfigFile(f *testing.F) {
	f.Add(goodFile)
	f.Add("namespaces:\n  - &a {name: x, presence: true}\n  - *a\n")
	f.Add("a: &x [1, *x]\n")
	f.Add("queue: 1\n---\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		path := filepath.Join(dir, "f.yaml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		o := server.Defaults()
		for _, p := range loadFile(path, &o, func(string) bool { return false }) {
			if msg := p.Error(); msg == "" || strings.Contains(msg, "\n") {
				t.Fatalf("problem %q is not one line", msg)
			}
		}
	})
}
