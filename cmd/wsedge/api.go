package main

import (
	"context"
	"errors"
	"net"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/admin"
	"github.com/wsedge/wsedge/api"
	"github.com/wsedge/wsedge/server"
)

// errAPINotWired: what startAPI was given does not implement api.Node
// (*server.Server does; embedding code may pass its own node).
var errAPINotWired = errors.New("the node does not implement the server API (api.Node)")

// apiNode finds the server API's calls in srv: srv itself when it
// implements api.Node, or what its APINode method returns.
func apiNode(srv any) (api.Node, bool) {
	switch n := srv.(type) {
	case api.Node:
		return n, true
	case interface{ APINode() api.Node }:
		return n.APINode(), true
	}
	return nil, false
}

// channelRule is the node's channel check when it has one (a
// ValidChannel(string) bool method on srv or on its api.Node).
func channelRule(srv any, node api.Node) func(string) bool {
	for _, x := range []any{node, srv} {
		if v, ok := x.(interface{ ValidChannel(string) bool }); ok {
			return v.ValidChannel
		}
	}
	return nil
}

// startAPI serves the server API of srv on -api-addr.
func startAPI(srv any, o *server.Options, log *zap.Logger) (*api.Listener, error) {
	return startAPIOn(srv, o, log, nil)
}

// startAPIOn is startAPI on ln when not nil (a listener handed over).
func startAPIOn(srv any, o *server.Options, log *zap.Logger, ln net.Listener) (*api.Listener, error) {
	node, ok := apiNode(srv)
	if !ok {
		return nil, errAPINotWired
	}
	c := api.Config{Key: o.APIKey, MaxBody: o.APIMaxBody, Timeout: o.APITimeout, Log: log.Named("api"), ValidChannel: channelRule(srv, node)}
	if len(o.APIKey) < 16 {
		log.Warn("the API key is shorter than 16 bytes: use a random one (openssl rand -hex 32)")
	}
	return api.Serve(node, c, api.ListenConfig{
		Addr: o.APIAddr, Listener: ln, TLSCert: o.APITLSCert, TLSKey: o.APITLSKey, MaxConns: o.APIMaxConns,
	})
}

// withAPI makes SIGHUP reload the API listener's certificate too.
type withAPI struct {
	node
	api     *api.Listener
	nodeTLS bool // -tls-cert is set
}

func (n withAPI) ReloadTLS() error {
	var errs []error
	if n.nodeTLS {
		errs = append(errs, n.node.ReloadTLS())
	}
	errs = append(errs, n.api.ReloadTLS())
	return errors.Join(errs...)
}

// stopAPI stops the API listener at exit, letting calls in flight finish
// within adminStopTimeout.
func stopAPI(l *api.Listener, log *zap.Logger) {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminStopTimeout)
	defer cancel()
	if err := l.Stop(ctx); err != nil {
		log.Warn("api listener stop", zap.Error(err))
	}
}

// adminAPI mounts the server API, keyless, on the admin listener for its
// web page when srv implements it (the admin listener is the operator's:
// loopback by default).
func adminAPI(srv any, o *server.Options, log *zap.Logger) []admin.Option {
	node, ok := apiNode(srv)
	if !ok {
		return nil // the page shows "not available on this node"
	}
	c := api.Config{Keyless: true, MaxBody: o.APIMaxBody, Timeout: o.APITimeout, Log: log.Named("admin-api"), ValidChannel: channelRule(srv, node)}
	h, err := api.NewHandler(node, c)
	if err != nil { // only a negative limit, refused by Validate before
		log.Error("admin listener: server API not mounted", zap.Error(err))
		return nil
	}
	return []admin.Option{admin.WithAPI(h)}
}
