//go:build linux

package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CompareConfig is a comparison run: every case on every server, in Rounds
// interleaved rounds (round 1: case 1 on A B C, case 2 on A B C...; then
// round 2 the same), each run on a freshly started server process.
type CompareConfig struct {
	ModuleRoot string
	Servers    []ServerSpec
	Rounds     int
	Cases      []Case
	Loops      int
	Sources    int
	// Perf counts each server's system calls with perf stat (echo,
	// handshake and broadcast windows).
	Perf bool
	// TLS runs every case over wss:// (servers that cannot serve TLS are
	// skipped) with a self-signed certificate made for the run.
	TLS bool
	// Compression makes the servers negotiate permessage-deflate (those
	// that cannot are skipped); the client offers it in echo cases.
	Compression bool
	Progress    Progress
	Log         io.Writer // status lines; nil: none
	// Ref is the server ratios are taken against (default: the first
	// server that built, normally wsedge).
	Ref string
}

// Case is one scenario setting of a comparison.
type Case struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // idle, echo, broadcast, churn, handshake
	// Only the fields of Kind matter.
	Idle      IdleConfig      `json:"-"`
	Echo      EchoConfig      `json:"-"`
	Broadcast BroadcastConfig `json:"-"`
	Churn     ChurnConfig     `json:"-"`
	Handshake HandshakeConfig `json:"-"`
	// Path is the WebSocket path (/echo; /ws for broadcast).
	Path string `json:"path"`
	// WsedgeOnly cases need wsedge's JSON protocol.
	WsedgeOnly bool `json:"wsedge_only,omitempty"`
	// Auth cases run wsedge with an HS256 secret made for the comparison
	// (-jwt-hmac-secret-file) and every connection presents a token minted
	// with it (sub user<n>): the idle population with identities.
	Auth bool `json:"auth,omitempty"`
}

// writeSecret writes a random HS256 secret for Auth cases into dir.
func writeSecret(dir string) (path string, secret []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	secret = []byte(hex.EncodeToString(b))
	path = filepath.Join(dir, "jwt-secret")
	return path, secret, os.WriteFile(path, secret, 0o600)
}

// Run is one measured run of a case on a server.
type Run struct {
	Round     int              `json:"round"`
	Idle      *IdleResult      `json:"idle,omitempty"`
	Echo      *EchoResult      `json:"echo,omitempty"`
	Broadcast *BroadcastResult `json:"broadcast,omitempty"`
	Churn     *ChurnResult     `json:"churn,omitempty"`
	Handshake *HandshakeResult `json:"handshake,omitempty"`
	Error     string           `json:"error,omitempty"`
}

// CompareResult holds every run, by case and server.
type CompareResult struct {
	Started     time.Time                   `json:"started"`
	Seconds     float64                     `json:"seconds"`
	Servers     []string                    `json:"servers"`
	Ref         string                      `json:"ref"`
	Rounds      int                         `json:"rounds"`
	Cases       []Case                      `json:"cases"`
	Runs        map[string]map[string][]Run `json:"runs"` // case -> server -> runs
	Skipped     map[string]string           `json:"skipped,omitempty"`
	TLS         bool                        `json:"tls,omitempty"`         // every case over wss://
	Compression bool                        `json:"compression,omitempty"` // permessage-deflate negotiated
	Interrupted bool                        `json:"interrupted,omitempty"`
}

// Compare builds the servers, then runs every case on each, interleaved.
// A cancelled ctx stops it; what was measured is returned.
func Compare(ctx context.Context, cfg CompareConfig) (*CompareResult, error) {
	if cfg.Rounds <= 0 {
		cfg.Rounds = 1
	}
	logf := func(format string, a ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", a...)
		}
	}
	res := &CompareResult{Started: time.Now(), Rounds: cfg.Rounds, Cases: cfg.Cases,
		Runs: map[string]map[string][]Run{}, Skipped: map[string]string{}, TLS: cfg.TLS, Compression: cfg.Compression}
	dir, err := os.MkdirTemp("", "wsbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	type built struct {
		spec ServerSpec
		bin  string
	}
	var tlsFiles []string // cert, key
	if cfg.TLS {
		cert, key, err := writeSelfSigned(dir)
		if err != nil {
			return nil, err
		}
		tlsFiles = []string{cert, key}
	}
	var secretFile string
	var secret []byte
	for _, c := range cfg.Cases {
		if c.Auth && secret == nil {
			if secretFile, secret, err = writeSecret(dir); err != nil {
				return nil, err
			}
		}
	}
	var servers []built
	for _, s := range cfg.Servers {
		if cfg.TLS && s.TLS == nil {
			logf("skipping %s: it cannot serve TLS here", s.Name)
			res.Skipped[s.Name] = "no TLS"
			continue
		}
		if cfg.Compression && s.Compression == nil {
			logf("skipping %s: it cannot negotiate permessage-deflate here", s.Name)
			res.Skipped[s.Name] = "no permessage-deflate"
			continue
		}
		logf("building %s (%s)", s.Name, s.Source())
		bin, err := s.Build(ctx, cfg.ModuleRoot, dir)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			logf("skipping %s: %v", s.Name, firstLine(err.Error()))
			res.Skipped[s.Name] = err.Error()
			continue
		}
		servers = append(servers, built{s, bin})
		res.Servers = append(res.Servers, s.Name)
	}
	if len(servers) == 0 {
		return res, fmt.Errorf("compare: no server built")
	}
	res.Ref = cfg.Ref
	if res.Ref == "" || !contains(res.Servers, res.Ref) {
		res.Ref = res.Servers[0]
	}
	for _, c := range cfg.Cases {
		res.Runs[c.Name] = map[string][]Run{}
	}
	for round := 1; round <= cfg.Rounds; round++ {
		for _, c := range cfg.Cases {
			for _, s := range servers {
				if ctx.Err() != nil {
					res.Interrupted = true
					res.Seconds = time.Since(res.Started).Seconds()
					return res, nil
				}
				if c.WsedgeOnly && s.spec.Name != "wsedge" {
					continue
				}
				logf("round %d/%d  %-16s %s", round, cfg.Rounds, c.Name, s.spec.Name)
				var auth []string
				if c.Auth {
					auth = []string{"-jwt-hmac-secret-file", secretFile}
				}
				run := runCase(ctx, cfg, c, s.spec, s.bin, filepath.Join(dir, s.spec.Name+".log"), tlsFiles, auth, secret)
				run.Round = round
				if run.Error != "" {
					logf("  %s: %s", s.spec.Name, run.Error)
				}
				res.Runs[c.Name][s.spec.Name] = append(res.Runs[c.Name][s.spec.Name], run)
			}
		}
	}
	res.Interrupted = ctx.Err() != nil
	res.Seconds = time.Since(res.Started).Seconds()
	return res, nil
}

func runCase(ctx context.Context, cfg CompareConfig, c Case, s ServerSpec, bin, logPath string, tlsFiles, auth []string, secret []byte) Run {
	extra := auth
	scheme := "ws://"
	if tlsFiles != nil {
		extra, scheme = s.TLS(tlsFiles[0], tlsFiles[1]), "wss://"
	}
	if cfg.Compression {
		extra = append(extra, s.Compression...)
	}
	srv, err := s.Start(ctx, bin, logPath, extra...)
	if err != nil {
		return Run{Error: err.Error()}
	}
	defer srv.Stop()
	tg, err := ParseTarget(ctx, scheme+srv.Addr+c.Path, false)
	if err != nil {
		return Run{Error: err.Error()}
	}
	// The certificate is made for this run: no need to verify it.
	common := Common{Target: tg, Loops: cfg.Loops, Sources: cfg.Sources, ServerPID: srv.PID(),
		AdminAddr: srv.Admin, Progress: cfg.Progress, Label: s.Name, Perf: cfg.Perf, Insecure: tlsFiles != nil}
	if cfg.Compression {
		common.Compression = DefaultDeflateOffer
	}
	if c.Auth {
		common.Token = TokenConfig{HMACSecret: secret}
	}
	var run Run
	switch c.Kind {
	case "idle":
		k := c.Idle
		k.Common = common
		r, e := Idle(ctx, k)
		run.Idle, err = &r, e
	case "echo":
		k := c.Echo
		k.Common = common
		r, e := Echo(ctx, k)
		run.Echo, err = &r, e
	case "broadcast":
		k := c.Broadcast
		k.Common = common
		r, e := Broadcast(ctx, k)
		run.Broadcast, err = &r, e
	case "churn":
		k := c.Churn
		k.Common = common
		r, e := Churn(ctx, k)
		run.Churn, err = &r, e
	case "handshake":
		k := c.Handshake
		k.Common = common
		r, e := Handshake(ctx, k)
		run.Handshake, err = &r, e
	default:
		err = fmt.Errorf("unknown case kind %q", c.Kind)
	}
	if err != nil {
		run.Error = err.Error()
	}
	return run
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// writeSelfSigned writes a self-signed ECDSA P-256 certificate for
// 127.0.0.1 and its key into dir, as PEM files.
func writeSelfSigned(dir string) (cert, key string, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "wsbench compare"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", "", err
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", err
	}
	return cert, key, nil
}
