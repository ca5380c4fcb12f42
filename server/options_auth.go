package server

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/wsedge/wsedge/auth"
	"github.com/wsedge/wsedge/perm"
	"github.com/wsedge/wsedge/proxy"
)

// AuthOptions are the options of identity, permissions and backend calls
// (docs/auth.md). They are embedded in Options, so o.JWTAudience works as
// any other option.
type AuthOptions struct {
	// ConfigFile is the YAML file cmd/wsedge read the options from (-config);
	// kept so a reload reads the same file.
	ConfigFile string

	JWTHMACSecret      string // never logged; also from JWTHMACSecretFile
	JWTHMACSecretFile  string // file holding the secret (a trailing newline is dropped)
	JWTPublicKey       string // PEM file: RSA, ECDSA or Ed25519 public key, or a certificate
	JWTJWKSURL         string
	JWTAudience        string
	JWTIssuer          string
	JWTLeeway          time.Duration
	JWTMaxSize         int // bytes of a token, checked before parsing
	JWTJWKSRefresh     time.Duration
	JWTJWKSMinInterval time.Duration
	JWTJWKSTimeout     time.Duration
	AllowAnonymous     bool // with auth on, connections without identity are still accepted

	// AuthWorkers verify connection tokens (and run Authenticator) off the
	// event loops; 0 = GOMAXPROCS.
	AuthWorkers int
	// AuthQueue bounds the connections waiting for a free AuthWorker; past
	// it a new one is refused at once (503 with Retry-After at the upgrade,
	// close 1013 after connect). 0: none wait.
	AuthQueue int

	// Authenticator, when set, decides who each connection is at the upgrade
	// instead of the tokens and the connect proxy (embedding; not a flag).
	Authenticator Authenticator `json:"-"`
	// KeepHeaders names the upgrade request headers a /ws session keeps for
	// Go code (Headers(session)); none by default (embedding; not a flag).
	KeepHeaders []string

	ProxyConnectURL   string
	ProxySubscribeURL string
	ProxyPublishURL   string
	ProxyRPCURL       string
	ProxyTimeout      time.Duration
	ProxyConcurrency  int // backend calls in flight
	ProxyQueue        int // backend calls waiting for a slot; past it refused at once
	ProxyMaxBody      int // bytes of a backend answer

	// Namespaces come from the config file only (no flag).
	Namespaces []perm.Namespace
}

// authDefaults are the documented defaults (cmd/wsedge/FLAGS.md).
func authDefaults() AuthOptions {
	return AuthOptions{
		JWTLeeway:          5 * time.Second,
		JWTMaxSize:         auth.DefaultMaxTokenSize,
		JWTJWKSRefresh:     auth.DefaultJWKSRefresh,
		JWTJWKSMinInterval: auth.DefaultJWKSMinInterval,
		JWTJWKSTimeout:     auth.DefaultJWKSTimeout,
		ProxyTimeout:       proxy.DefaultTimeout,
		ProxyConcurrency:   proxy.DefaultMaxConcurrent,
		ProxyQueue:         proxy.DefaultMaxQueue,
		ProxyMaxBody:       proxy.DefaultMaxBody,
		AuthQueue:          DefaultAuthQueue,
	}
}

// DefaultAuthQueue is the default of -auth-queue.
const DefaultAuthQueue = 4096

// AuthOn reports whether connections need an identity: any key source, the
// connect proxy or an Authenticator is configured.
func (a *AuthOptions) AuthOn() bool {
	return a.JWTKeys() || a.ProxyConnectURL != "" || a.Authenticator != nil
}

// JWTKeys reports whether any token key is configured.
func (a *AuthOptions) JWTKeys() bool {
	return a.JWTHMACSecret != "" || a.JWTPublicKey != "" || a.JWTJWKSURL != ""
}

// ValidateAuth reports every problem of the auth options, each one line
// naming its flag (or its namespace). It reads no file.
func (a *AuthOptions) ValidateAuth() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if n := len(a.JWTHMACSecret); n > 0 && n < auth.MinHMACSecret {
		bad("-jwt-hmac-secret: %d bytes is too short (want at least %d)", n, auth.MinHMACSecret)
	}
	for _, u := range []struct{ flag, url string }{
		{"-jwt-jwks-url", a.JWTJWKSURL}, {"-proxy-connect-url", a.ProxyConnectURL},
		{"-proxy-subscribe-url", a.ProxySubscribeURL}, {"-proxy-publish-url", a.ProxyPublishURL},
		{"-proxy-rpc-url", a.ProxyRPCURL},
	} {
		if u.url == "" || (u.flag == "-proxy-rpc-url" && strings.HasPrefix(u.url, rpcNATSScheme)) {
			continue // nats:SUBJECT is checked by ValidateBackend
		}
		if p, err := url.Parse(u.url); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad("%s: %q is not an http(s) URL", u.flag, redactURL(u.url))
		}
	}
	if a.JWTLeeway < 0 {
		bad("-jwt-leeway: must not be negative")
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"-jwt-jwks-refresh", a.JWTJWKSRefresh}, {"-jwt-jwks-min-interval", a.JWTJWKSMinInterval},
		{"-jwt-jwks-timeout", a.JWTJWKSTimeout}, {"-proxy-timeout", a.ProxyTimeout},
	} {
		if d.v <= 0 {
			bad("%s: must be positive", d.flag)
		}
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"-jwt-max-size", a.JWTMaxSize}, {"-proxy-concurrency", a.ProxyConcurrency}, {"-proxy-max-body", a.ProxyMaxBody}} {
		if n.v <= 0 {
			bad("%s: must be positive", n.flag)
		}
	}
	if a.ProxyQueue < 0 {
		bad("-proxy-queue: must not be negative")
	}
	if a.AuthWorkers < 0 {
		bad("-auth-workers: must not be negative")
	}
	if a.AuthQueue < 0 {
		bad("-auth-queue: must not be negative")
	}
	for _, h := range a.KeepHeaders {
		if h == "" || strings.ContainsAny(h, " :\r\n") {
			bad("KeepHeaders: %q is not a header name", h)
		}
	}
	if err := perm.Check(a.Namespaces); err != nil {
		bad("namespaces: %v", err)
	}
	for i, ns := range a.Namespaces {
		where := fmt.Sprintf("namespaces[%d] %q", i, ns.Name)
		if ns.Subscribe == perm.SubscribeToken && !a.JWTKeys() {
			bad("%s: subscribe: token needs a JWT key (-jwt-hmac-secret, -jwt-public-key or -jwt-jwks-url)", where)
		}
		if ns.Subscribe == perm.SubscribeProxy && a.ProxySubscribeURL == "" {
			bad("%s: subscribe: proxy needs -proxy-subscribe-url", where)
		}
		if ns.Publish == perm.PublishProxy && a.ProxyPublishURL == "" {
			bad("%s: publish: proxy needs -proxy-publish-url", where)
		}
	}
	return errs
}

// redactURL drops a password from a URL before it goes into a message.
func redactURL(s string) string {
	if p, err := url.Parse(s); err == nil && p.User != nil {
		return p.Redacted()
	}
	return s
}

// AuthConfig builds the token verifier's configuration, reading the
// public key file. It returns false when no token key is configured.
func (a *AuthOptions) AuthConfig() (auth.Config, bool, error) {
	if !a.JWTKeys() {
		return auth.Config{}, false, nil
	}
	c := auth.Config{
		HMACSecret: []byte(a.JWTHMACSecret), JWKSURL: a.JWTJWKSURL,
		JWKSRefresh: a.JWTJWKSRefresh, JWKSMinInterval: a.JWTJWKSMinInterval, JWKSTimeout: a.JWTJWKSTimeout,
		Audience: a.JWTAudience, Issuer: a.JWTIssuer, Leeway: a.JWTLeeway, MaxTokenSize: a.JWTMaxSize,
	}
	if a.JWTPublicKey != "" {
		pemBytes, err := os.ReadFile(a.JWTPublicKey)
		if err != nil {
			return c, true, fmt.Errorf("-jwt-public-key: %w", err)
		}
		if _, err := auth.ParsePublicKeyPEM(pemBytes); err != nil {
			return c, true, fmt.Errorf("-jwt-public-key: %s: %w", a.JWTPublicKey, err)
		}
		c.PublicKeyPEM = pemBytes
	}
	return c, true, nil
}

// ProxyConfig builds the backend client's configuration; false when no
// backend URL is configured.
func (a *AuthOptions) ProxyConfig() (proxy.Config, bool) {
	c := proxy.Config{
		ConnectURL: a.ProxyConnectURL, SubscribeURL: a.ProxySubscribeURL,
		PublishURL: a.ProxyPublishURL, RPCURL: a.ProxyRPCURL,
		Timeout: a.ProxyTimeout, MaxConcurrent: a.ProxyConcurrency, MaxQueue: a.ProxyQueue, MaxBody: int64(a.ProxyMaxBody),
	}
	return c, strings.Join([]string{c.ConnectURL, c.SubscribeURL, c.PublishURL, c.RPCURL}, "") != ""
}

// Policy builds the permission policy from the namespaces and whether auth
// is on.
func (a *AuthOptions) Policy() (*perm.Policy, error) {
	return perm.New(a.AuthOn(), a.Namespaces)
}
