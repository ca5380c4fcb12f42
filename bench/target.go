//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
)

// ErrRemote is returned for a target that is not a loopback address while
// remote targets are not allowed.
var ErrRemote = errors.New("target is not a loopback address (use -allow-remote)")

// Target is a resolved ws:// endpoint.
type Target struct {
	URL      string         `json:"url"`
	Addr     netip.AddrPort `json:"-"`
	HostHdr  string         `json:"-"` // Host header value
	Path     string         `json:"-"` // request URI (path and query)
	Loopback bool           `json:"-"`
	// TLS is set for wss://; ServerName is the name the certificate must
	// carry (the URL's host).
	TLS        bool   `json:"tls,omitempty"`
	ServerName string `json:"-"`
}

// ParseTarget resolves a ws:// or wss:// URL to one IPv4 address. A host
// that does not resolve only to loopback addresses is refused unless
// allowRemote is set.
func ParseTarget(ctx context.Context, raw string, allowRemote bool) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", raw, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return Target{}, fmt.Errorf("target %q: scheme must be ws or wss", raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "wss" {
			port = "443"
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: bad port: %w", raw, err)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: resolve: %w", raw, err)
	}
	if len(ips) == 0 {
		return Target{}, fmt.Errorf("target %q: no IPv4 address", raw)
	}
	loop := true
	for _, ip := range ips {
		loop = loop && ip.Unmap().IsLoopback()
	}
	if !loop && !allowRemote {
		return Target{}, fmt.Errorf("target %q: %w", raw, ErrRemote)
	}
	path := u.RequestURI()
	return Target{
		URL:        raw,
		Addr:       netip.AddrPortFrom(ips[0].Unmap(), uint16(p)),
		HostHdr:    u.Host,
		Path:       path,
		Loopback:   loop,
		TLS:        u.Scheme == "wss",
		ServerName: host,
	}, nil
}

// WithPath returns t aimed at another path on the same server.
func (t Target) WithPath(path string) Target {
	u, err := url.Parse(t.URL)
	if err == nil {
		u.Path, u.RawQuery = path, ""
		t.URL = u.String()
	}
	t.Path = path
	return t
}
