package main

import (
	"github.com/wsedge/wsedge/server"
)

// option describes one flag: where it is shown in -h, how it reads, and the
// field of server.Options it fills.
type option struct {
	name  string // flag name without the dash
	group string
	arg   string // placeholder shown in -h; "" for a boolean
	usage string // one line for -h
	value value
}

// groups fixes the order of the sections of -h.
var groups = []string{"Config", "Listening", "Processing", "Limits", "Timeouts", "TLS", "Compression", "Identity", "Backend", "Server API", "Logging", "Cluster"}

// options binds every flag to a field of o. It is the single
// table that -h, FLAGS.md, the environment and the startup log all follow.
func options(o *server.Options) []option {
	return []option{
		{"config", "Config", "FILE", "YAML file of options (flag names as keys, plus namespaces: docs/auth.md); flags and the environment override it", stringValue{&o.ConfigFile}},

		{"addr", "Listening", "ADDR", "listen address for WebSocket clients and /health", stringValue{&o.Addr}},
		{"admin-addr", "Listening", "ADDR", `listener for /metrics, /health and /debug/pprof/; "" disables it`, stringValue{&o.AdminAddr}},
		{"path", "Listening", "PATH", "WebSocket endpoint speaking the JSON protocol", stringValue{&o.Path}},
		{"echo-path", "Listening", "PATH", `WebSocket endpoint that echoes every message; "" disables it`, stringValue{&o.EchoPath}},
		{"demo", "Listening", "", "serve the demo page at / (its origin is the node's own: accepted by the default -allowed-origins, to be listed with a list); off for production (/wsedge.js, the client library, is served either way)", boolValue{&o.Demo}},

		{"poller", "Processing", "NAME", `event-loop backend: "epoll" (Linux), "uring" (Linux with io_uring: receives and the loop's answers through the ring, see docs/design.md) or "std" (the standard library's net.Conn, any OS); "" = epoll on Linux, std elsewhere`, stringValue{&o.Poller}},
		{"loops", "Processing", "N", "event loops; 0 = GOMAXPROCS", intValue{&o.Loops}},
		{"workers", "Processing", "N", "goroutines running message handlers; 0 = 4 x GOMAXPROCS", intValue{&o.Workers}},
		{"queue", "Processing", "N", "messages waiting for a worker; when full, clients get OVERLOADED", intValue{&o.Queue}},
		{"memory-trim-after", "Processing", "DUR", "after a burst of connections: once none was accepted for this long and the process grew by -memory-trim-growth, return the heap's free pages to the OS (two forced GCs; at most one per this interval); 0 = never", durationValue{&o.MemoryTrimAfter}},
		{"memory-trim-growth", "Processing", "SIZE", "how much the memory the Go runtime retains must have grown since the last trim before -memory-trim-after trims again", sizeValue{p: &o.MemoryTrimGrowth}},
		{"queue-per-conn", "Processing", "N", "one connection's share of -queue; past it that connection alone gets OVERLOADED", intValue{&o.QueuePerConn}},

		{"max-conns", "Limits", "N", "connections for the whole node; past it new ones get 503", intValue{&o.MaxConns}},
		{"max-conns-per-ip", "Limits", "N", "connections per client IP; past it new ones get 429", intValue{&o.MaxConnsPerIP}},
		{"conn-rate", "Limits", "RATE", "new connections per minute per client IP; past it 429 with Retry-After", floatValue{&o.ConnRate}},
		{"conn-burst", "Limits", "N", "connections a client IP may open at once before -conn-rate applies", intValue{&o.ConnBurst}},
		{"msg-rate", "Limits", "RATE", "inbound messages per second per connection; past it RATE_LIMITED errors, then close 1008 if it keeps on", floatValue{&o.MsgRate}},
		{"msg-burst", "Limits", "N", "messages a connection may send at once before -msg-rate applies", intValue{&o.MsgBurst}},
		{"max-message-size", "Limits", "SIZE", "largest inbound message, inclusive; one byte more: close 1009", sizeValue{p64: &o.MaxMessageSize}},
		{"write-queue", "Limits", "SIZE", "bytes queued for one connection before it is closed as a slow consumer", sizeValue{p: &o.WriteQueue}},
		{"max-header-size", "Limits", "SIZE", "largest HTTP upgrade request head (1KiB..1MiB); past it 400", sizeValue{p: &o.MaxHeaderBytes}},
		{"max-channels", "Limits", "N", "channels one connection may subscribe to; past it INVALID_MESSAGE", intValue{&o.MaxChannels}},
		{"allowed-origins", "Limits", "LIST", `comma list of Origins; *. = one host label (https://*.example.com); "*" = any; "" = same host or none`, stringValue{&o.AllowedOrigins}},
		{"limit-loopback", "Limits", "", "apply the per-IP rate and cap to loopback peers too (local proxies, load tests)", boolValue{&o.LimitLoopback}},
		{"trusted-proxies", "Limits", "CIDRS", "comma list of proxy CIDRs whose X-Forwarded-For gives the client IP for per-IP limits", stringValue{&o.TrustedProxies}},

		{"ping-interval", "Timeouts", "DUR", "send a heartbeat ping to every connection this often (at most 576h)", durationValue{&o.PingInterval}},
		{"idle-timeout", "Timeouts", "DUR", "close 1001 after this long without any frame (data, ping or pong) from the peer (at most 576h)", durationValue{&o.IdleTimeout}},
		{"read-timeout", "Timeouts", "DUR", "a frame or fragmented message, once started, must be complete within this (at most 576h)", durationValue{&o.ReadTimeout}},
		{"write-timeout", "Timeouts", "DUR", "close a connection whose queued data cannot be written for this long (at most 576h)", durationValue{&o.WriteTimeout}},
		{"handshake-timeout", "Timeouts", "DUR", "the whole HTTP upgrade request must arrive within this (at most 576h)", durationValue{&o.HandshakeTimeout}},
		{"close-timeout", "Timeouts", "DUR", "how long a peer the server closes may take to answer (its close frame, or its FIN after a refusal) (at most 576h)", durationValue{&o.CloseTimeout}},
		{"lameduck", "Timeouts", "DUR", "on SIGTERM/SIGINT: /ready (and /health on -addr) answer 503 at once, the node keeps serving this long, then drains; 0 = drain at once", durationValue{&o.LameDuck}},
		{"shutdown-timeout", "Timeouts", "DUR", "the drain: stop accepting, close 1012 spread over -drain-spread, wait for the peers up to this long in all, then force", durationValue{&o.ShutdownTimeout}},
		{"handover-timeout", "Timeouts", "DUR", "SIGUSR2 (restart without reconnects): how long the new process may take to be ready, then the whole handover; past it the old process serves on. Connections that cannot move (TLS) are closed 1012 within it after the switch", durationValue{&o.HandoverTimeout}},
		{"handover-nats-overlap", "Timeouts", "DUR", "SIGUSR2 with -broker: how long the old process keeps its NATS subscriptions (relaying what they receive) after the new process reported its own up; covers messages the NATS server matched before and delivers after. Messages held by the new process wait up to this long", durationValue{&o.HandoverNATSOverlap}},
		{"drain-spread", "Timeouts", "DUR", "spread the drain's 1012 closes over this window (at most 1ms per connection, within -shutdown-timeout); 0 = all at once", durationValue{&o.DrainSpread}},

		{"tls-cert", "TLS", "FILE", "certificate chain (PEM) to serve wss://; needs -tls-key; re-read on SIGHUP", stringValue{&o.TLSCert}},
		{"tls-key", "TLS", "FILE", "private key (PEM) of -tls-cert", stringValue{&o.TLSKey}},
		{"tls-record-layer", "TLS", "NAME", `after the handshake: "compact" (TLS 1.3 on wsedge's record layer, which keeps no cipher state while idle; TLS 1.2 on crypto/tls) or "stdlib" (crypto/tls end to end)`, stringValue{&o.TLSRecordLayer}},
		{"tls-cipher-idle", "TLS", "DUR", "compact: a connection's cipher state (AEAD and IV, ~1.8 KB with AES-GCM) unused for this long (to twice this) is dropped and derived again from the traffic secret for the next record; 0 keeps it (at most 576h)", durationValue{&o.TLSCipherIdle}},

		{"compression", "Compression", "MODE", "permessage-deflate for clients that offer it: off, no-context-takeover (no state kept per connection) or context-takeover (the client's window kept: up to 2^-compression-window-bits bytes per connection)", modeValue{&o.Compression.Mode}},
		{"compression-level", "Compression", "N", "deflate level of what the server sends, 1 (fastest) to 9 (smallest)", intValue{&o.Compression.Level}},
		{"compression-min-size", "Compression", "SIZE", "messages shorter than this are sent uncompressed", sizeValue{p: &o.Compression.MinSize}},
		{"compression-window-bits", "Compression", "BITS", "context-takeover: the client_max_window_bits (9..15) answered to clients that offer it, bounding the window kept per connection", windowBitsValue{&o.Compression.WindowBits}},

		{"jwt-hmac-secret", "Identity", "SECRET", "HS256/384/512 token secret, at least 32 bytes; never logged; turns auth on", secretValue{&o.JWTHMACSecret}},
		{"jwt-hmac-secret-file", "Identity", "FILE", "read -jwt-hmac-secret from this file (a trailing newline is dropped)", stringValue{&o.JWTHMACSecretFile}},
		{"jwt-public-key", "Identity", "FILE", "PEM public key (RSA, ECDSA, Ed25519) or certificate for RS*/PS*/ES*/EdDSA tokens; turns auth on", stringValue{&o.JWTPublicKey}},
		{"jwt-jwks-url", "Identity", "URL", "JSON Web Key Set of the token keys (tokens name theirs with kid); turns auth on", urlValue{&o.JWTJWKSURL}},
		{"jwt-audience", "Identity", "AUD", `tokens must have this in aud; "" = aud not checked`, stringValue{&o.JWTAudience}},
		{"jwt-issuer", "Identity", "ISS", `tokens must have this iss; "" = iss not checked`, stringValue{&o.JWTIssuer}},
		{"jwt-leeway", "Identity", "DUR", "clock skew allowed on exp and nbf", durationValue{&o.JWTLeeway}},
		{"jwt-max-size", "Identity", "SIZE", "longest token, checked before parsing; longer ones are invalid", sizeValue{p: &o.JWTMaxSize}},
		{"jwt-jwks-refresh", "Identity", "DUR", "fetch -jwt-jwks-url this often", durationValue{&o.JWTJWKSRefresh}},
		{"jwt-jwks-min-interval", "Identity", "DUR", "a token with an unknown kid fetches the key set at most this often", durationValue{&o.JWTJWKSMinInterval}},
		{"jwt-jwks-timeout", "Identity", "DUR", "one key set fetch, connect to last byte (the set may be 1 MiB at most)", durationValue{&o.JWTJWKSTimeout}},
		{"allow-anonymous", "Identity", "", "with auth on, still accept connections without an identity", boolValue{&o.AllowAnonymous}},
		{"auth-workers", "Identity", "N", "goroutines checking connection tokens off the event loops; 0 = GOMAXPROCS", intValue{&o.AuthWorkers}},
		{"auth-queue", "Identity", "N", "connections waiting for an -auth-workers goroutine; past it 503 with Retry-After (close 1013 after connect)", intValue{&o.AuthQueue}},

		{"proxy-connect-url", "Backend", "URL", "POST each new connection's IP, path, query and headers here before the upgrade; the answer is its identity; turns auth on", urlValue{&o.ProxyConnectURL}},
		{"proxy-subscribe-url", "Backend", "URL", "POST subscribes in namespaces with subscribe: proxy here", urlValue{&o.ProxySubscribeURL}},
		{"proxy-publish-url", "Backend", "URL", "POST publishes in namespaces with publish: proxy here", urlValue{&o.ProxyPublishURL}},
		{"proxy-rpc-url", "Backend", "URL", "POST rpc messages here (http:// or https://), or nats:SUBJECT: NATS request-reply on the -broker connection", urlValue{&o.ProxyRPCURL}},
		{"proxy-timeout", "Backend", "DUR", "one backend call, waiting for a slot included; past it the call is unavailable (503)", durationValue{&o.ProxyTimeout}},
		{"proxy-concurrency", "Backend", "N", "backend calls in flight at once (and pooled keep-alive connections)", intValue{&o.ProxyConcurrency}},
		{"proxy-queue", "Backend", "N", "backend calls waiting for a slot; past it refused at once (503 with Retry-After)", intValue{&o.ProxyQueue}},
		{"proxy-max-body", "Backend", "SIZE", "largest backend answer; a larger one is unavailable, read no further", sizeValue{p: &o.ProxyMaxBody}},
		{"rpc-per-conn", "Backend", "N", "rpc and presence calls one connection may have in flight; past it OVERLOADED", intValue{&o.RPCPerConn}},
		{"rpc-inflight", "Backend", "N", "rpc and presence calls in flight on the node; past it OVERLOADED", intValue{&o.RPCInflight}},
		{"presence-max", "Backend", "N", "clients one presence answer may list (all nodes); past it OVERLOADED, or 413 on the API", intValue{&o.PresenceMax}},
		{"join-leave-queue", "Backend", "N", "join and leave events waiting to be sent; past it they are dropped (0 = 4096)", intValue{&o.JoinLeaveQueue}},

		{"log-level", "Logging", "LEVEL", "debug, info, warn or error", choiceValue{&o.LogLevel, []string{"debug", "info", "warn", "error"}}},
		{"log-format", "Logging", "FORMAT", "json (one object per line, on stderr) or console (for humans)", choiceValue{&o.LogFormat, []string{"json", "console"}}},

		{"broker", "Cluster", "URL", `nats://host:port shares channels between nodes; "" keeps them in-process`, stringValue{&o.Broker}},
		{"node-name", "Cluster", "NAME", `this node's name in the cluster (unique); "" = host name and -addr port`, stringValue{&o.NodeName}},
		{"broker-creds", "Cluster", "FILE", "NATS credentials file (user JWT and NKey seed)", stringValue{&o.BrokerCreds}},
		{"broker-tls-ca", "Cluster", "FILE", "CA certificates (PEM) to verify the NATS servers; TLS is used when a server asks for it or with tls://", stringValue{&o.BrokerTLSCA}},
		{"broker-tls-cert", "Cluster", "FILE", "client certificate (PEM) presented to NATS; needs -broker-tls-key", stringValue{&o.BrokerTLSCert}},
		{"broker-tls-key", "Cluster", "FILE", "private key (PEM) of -broker-tls-cert", stringValue{&o.BrokerTLSKey}},
		{"broker-retry", "Cluster", "", "start even while NATS is unreachable (publishes answer UNAVAILABLE until it connects)", boolValue{&o.BrokerRetry}},
		{"ready-broker", "Cluster", "", "admin /ready answers 503 while the -broker connection is down; -ready-broker=false keeps nodes in the load balancer through a NATS outage", boolValue{&o.ReadyBroker}},

		{"api-addr", "Server API", "ADDR", `listener of the server API for the application backend (docs/api.md); "" = off; needs a key`, stringValue{&o.APIAddr}},
		{"api-key", "Server API", "KEY", `API key: requests carry "Authorization: apikey KEY"; never logged (prefer WSEDGE_API_KEY or -api-key-file)`, secretValue{&o.APIKey}},
		{"api-key-file", "Server API", "FILE", "read -api-key from this file (a trailing newline is dropped)", stringValue{&o.APIKeyFile}},
		{"api-max-body", "Server API", "SIZE", "largest API request body; past it 413, read no further", sizeValue{p64: &o.APIMaxBody}},
		{"api-max-conns", "Server API", "N", "open API connections; past it new ones wait to be accepted", intValue{&o.APIMaxConns}},
		{"api-timeout", "Server API", "DUR", "one API call, cluster round trips included; past it 503 UNAVAILABLE", durationValue{&o.APITimeout}},
		{"api-tls-cert", "Server API", "FILE", "serve the API over HTTPS with this certificate chain (PEM; may be -tls-cert's); re-read on SIGHUP", stringValue{&o.APITLSCert}},
		{"api-tls-key", "Server API", "FILE", "private key (PEM) of -api-tls-cert", stringValue{&o.APITLSKey}},
	}
}
