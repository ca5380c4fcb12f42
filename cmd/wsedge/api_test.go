package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wsedge/wsedge/admin"
	"github.com/wsedge/wsedge/api"
	"github.com/wsedge/wsedge/internal/testcert"
	"github.com/wsedge/wsedge/metrics"
	"github.com/wsedge/wsedge/server"
)

func TestAPIOptions(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("from-a-file-0123456789\r\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		key  string // wanted APIKey
		err  string // part of the error; "" = accepted
	}{
		{"off by default", nil, nil, "", ""},
		{"addr without key", []string{"-api-addr", ":8000"}, nil, "", "-api-addr: the server API needs a key"},
		{"addr from env without key", nil, map[string]string{"WSEDGE_API_ADDR": ":8000"}, "", "(set by WSEDGE_API_ADDR)"},
		{"key flag", []string{"-api-addr", ":8000", "-api-key", "k"}, nil, "k", ""},
		{"key from env", []string{"-api-addr", ":8000"}, map[string]string{"WSEDGE_API_KEY": "env-key"}, "env-key", ""},
		{"key file", []string{"-api-addr", ":8000", "-api-key-file", keyFile}, nil, "from-a-file-0123456789", ""},
		{"key file from env", []string{"-api-addr", ":8000"}, map[string]string{"WSEDGE_API_KEY_FILE": keyFile}, "from-a-file-0123456789", ""},
		{"key and key file", []string{"-api-key", "k", "-api-key-file", keyFile}, nil, "", "not both"},
		{"missing key file", []string{"-api-key-file", filepath.Join(dir, "nope")}, nil, "", "-api-key-file: open"},
		{"empty key file", []string{"-api-key-file", empty}, nil, "", "is empty"},
		{"zero body", []string{"-api-max-body", "0"}, nil, "", "-api-max-body: must be positive"},
		{"zero timeout", []string{"-api-timeout", "0s"}, nil, "", "-api-timeout: must be positive"},
		{"zero conns: no cap", []string{"-api-max-conns", "0"}, nil, "", ""},
		{"negative conns", []string{"-api-max-conns", "-1"}, nil, "", "-api-max-conns: must not be negative"},
		{"half TLS", []string{"-api-tls-cert", "c.pem"}, nil, "", "-api-tls-cert given without -api-tls-key"},
		{"half TLS key", []string{"-api-tls-key", "k.pem"}, nil, "", "-api-tls-key given without -api-tls-cert"},
	} {
		o, err := parseConfig(tc.args, envOf(tc.env))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.err)
		case tc.err == "" && o.APIKey != tc.key:
			t.Errorf("%s: key %q, want %q", tc.name, o.APIKey, tc.key)
		}
	}
	o, err := parseConfig([]string{"-api-max-body", "64KiB", "-api-timeout", "2s", "-api-max-conns", "7"}, envOf(nil))
	if err != nil || o.APIMaxBody != 64<<10 || o.APITimeout != 2*time.Second || o.APIMaxConns != 7 {
		t.Fatalf("%d %v %d %v", o.APIMaxBody, o.APITimeout, o.APIMaxConns, err)
	}
}

// apiServer is a stand-in for *server.Server once it implements api.Node:
// it answers publish and has its own channel rule.
type apiServer struct {
	api.Node // nil: only Publish is called
	got      chan string
}

func (s *apiServer) Publish(_ context.Context, ch string, data json.RawMessage) error {
	s.got <- ch + " " + string(data)
	return nil
}

func (s *apiServer) ValidChannel(name string) bool { return strings.HasPrefix(name, "ok:") }

type viaMethod struct{ n api.Node }

func (v viaMethod) APINode() api.Node { return v.n }

func TestStartAPI(t *testing.T) {
	o := server.Defaults()
	o.APIAddr, o.APIKey = "127.0.0.1:0", "start-api-key-0123456789"
	if _, err := startAPI(struct{}{}, &o, zap.NewNop()); !errors.Is(err, errAPINotWired) {
		t.Fatalf("a server without api.Node: %v", err)
	}
	srv := &apiServer{got: make(chan string, 1)}
	l, err := startAPI(srv, &o, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer stopAPI(l, zap.NewNop())
	publish := func(ch string) (int, string) {
		req, _ := http.NewRequest("POST", "http://"+l.Addr().String()+"/api/publish", strings.NewReader(`{"channel":"`+ch+`","data":1}`))
		req.Header.Set("Authorization", "apikey "+o.APIKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := publish("news"); code != 400 || !strings.Contains(body, "invalid channel") {
		t.Fatalf("the server's channel rule was not used: %d %s", code, body)
	}
	if code, body := publish("ok:news"); code != 200 || <-srv.got != "ok:news 1" {
		t.Fatalf("%d %s", code, body)
	}
	if opts := adminAPI(struct{}{}, &o, zap.NewNop()); opts != nil {
		t.Fatal("admin mount for a server without api.Node")
	}
	if opts := adminAPI(srv, &o, zap.NewNop()); len(opts) != 1 {
		t.Fatal("no admin mount for a server with api.Node")
	}
	// A server may hand out its api.Node instead of being one.
	if n, ok := apiNode(viaMethod{srv}); !ok || n != api.Node(srv) {
		t.Fatal("APINode not used")
	}
	if rule := channelRule(viaMethod{srv}, srv); rule == nil || !rule("ok:x") || rule("x") {
		t.Fatal("the api.Node's channel rule not used")
	}
}

func TestBinaryAPIKey(t *testing.T) {
	// Refused at start without a key: exit 2 and one line naming the flag.
	code, out, errOut := runBinary(t, nil, "-addr", "127.0.0.1:0", "-admin-addr", "", "-api-addr", "127.0.0.1:0")
	if code != 2 || out != "" || !strings.HasPrefix(errOut, "wsedge: -api-addr: the server API needs a key") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The key never shows in the startup log.
	const secret = "do-not-log-this-key-0123456789"
	node := startNode(t, []string{"WSEDGE_API_KEY=" + secret}, "-addr", "127.0.0.1:0", "-admin-addr", "")
	started := node.log.wait(t, "wsedge started")
	if cfg, _ := started["config"].(map[string]any); cfg["api-key"] != "<redacted>" {
		t.Errorf("config api-key = %v", cfg["api-key"])
	}
	node.cmd.Process.Signal(os.Interrupt)
	node.waitExit(t, 15*time.Second)
	node.log.mu.Lock()
	defer node.log.mu.Unlock()
	if all := strings.Join(node.log.raw, "\n"); strings.Contains(all, secret) {
		t.Fatalf("the key is in the log:\n%s", all)
	}
}

type okHealth struct{}

func (okHealth) Health() (int, []byte) { return 200, []byte(`{"status":"ok"}`) }
func (okHealth) Live() (int, []byte)   { return 200, []byte(`{"status":"ok"}`) }
func (okHealth) Ready() (int, []byte)  { return 200, []byte(`{"status":"ok"}`) }

// The admin page's calls reach the keyless mount on the admin listener.
func TestAdminAPIMount(t *testing.T) {
	o := server.Defaults()
	srv := &apiServer{got: make(chan string, 1)}
	adm, err := admin.Serve("127.0.0.1:0", admin.Handler(okHealth{}, metrics.New(), adminAPI(srv, &o, zap.NewNop())...), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Stop(context.Background())
	post := func(ct string) int {
		req, _ := http.NewRequest("POST", "http://"+adm.Addr().String()+"/api/publish", strings.NewReader(`{"channel":"ok:a","data":1}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post("application/json"); code != 200 || <-srv.got != "ok:a 1" {
		t.Fatalf("admin page publish: %d", code)
	}
	if code := post("text/plain"); code != 415 {
		t.Fatalf("text/plain: %d", code)
	}
}

// SIGHUP re-reads the API listener's certificate, also when the main
// listener has no TLS.
func TestSIGHUPReloadsAPICert(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool1 := testcert.Write(t, dir, 1)
	o := server.Defaults()
	o.APIAddr, o.APIKey, o.APITLSCert, o.APITLSKey = "127.0.0.1:0", "hup-key-0123456789abcdef", certFile, keyFile
	l, err := startAPI(&apiServer{}, &o, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer stopAPI(l, zap.NewNop())
	serial := func(pool *x509.CertPool) int64 {
		c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(pool1); s != 1 {
		t.Fatalf("serial %d", s)
	}
	_, _, pool2 := testcert.Write(t, dir, 2)
	core, logs := observer.New(zap.InfoLevel)
	f := &fakeNode{release: make(chan struct{})}
	close(f.release)
	sigs := make(chan os.Signal, 2)
	sigs <- syscall.SIGHUP
	sigs <- syscall.SIGTERM
	if code := serve(withAPI{node: f, api: l, nodeTLS: o.TLSCert != ""}, &o, zap.New(core), sigs); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if f.reloads.Load() != 0 {
		t.Error("the node's TLS was reloaded although it has none")
	}
	if logs.FilterMessage("SIGHUP: TLS certificate reloaded").Len() != 1 {
		t.Errorf("log: %v", logs.All())
	}
	if s := serial(pool2); s != 2 {
		t.Fatalf("after SIGHUP: serial %d", s)
	}
}

func TestShortKeyWarning(t *testing.T) {
	o := server.Defaults()
	o.APIAddr, o.APIKey = "127.0.0.1:0", "short"
	core, logs := observer.New(zap.WarnLevel)
	l, err := startAPI(&apiServer{}, &o, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer stopAPI(l, zap.NewNop())
	if logs.FilterMessageSnippet("shorter than 16 bytes").Len() != 1 {
		t.Fatalf("no warning: %v", logs.All())
	}
	if strings.Contains(fmt.Sprint(logs.All()), "short\"") {
		t.Fatal("the key is in the log")
	}
}
