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
var groups = []string{"Listening", "Processing", "Limits", "Timeouts", "TLS", "Logging", "Cluster"}

// options binds every flag to a field of o. It is the single
// table that -h, FLAGS.md, the environment and the startup log all follow.
func options(o *server.Options) []option {
	return []option{
		{"addr", "Listening", "ADDR", "listen address for WebSocket clients and /health", stringValue{&o.Addr}},
		{"admin-addr", "Listening", "ADDR", `listener for /metrics, /health and /debug/pprof/; "" disables it`, stringValue{&o.AdminAddr}},
		{"path", "Listening", "PATH", "WebSocket endpoint speaking the JSON protocol", stringValue{&o.Path}},
		{"echo-path", "Listening", "PATH", `WebSocket endpoint that echoes every message; "" disables it`, stringValue{&o.EchoPath}},

		{"poller", "Processing", "NAME", `event-loop backend: "epoll" (Linux) or "std" (the standard library's net.Conn, any OS); "" = epoll on Linux, std elsewhere`, stringValue{&o.Poller}},
		{"loops", "Processing", "N", "event loops; 0 = GOMAXPROCS", intValue{&o.Loops}},
		{"workers", "Processing", "N", "goroutines running message handlers; 0 = 4 x GOMAXPROCS", intValue{&o.Workers}},
		{"queue", "Processing", "N", "messages waiting for a worker; when full, clients get OVERLOADED", intValue{&o.Queue}},

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

		{"ping-interval", "Timeouts", "DUR", "send a heartbeat ping to every connection this often", durationValue{&o.PingInterval}},
		{"idle-timeout", "Timeouts", "DUR", "close 1001 after this long without any frame (data, ping or pong) from the peer", durationValue{&o.IdleTimeout}},
		{"read-timeout", "Timeouts", "DUR", "a frame or fragmented message, once started, must be complete within this", durationValue{&o.ReadTimeout}},
		{"write-timeout", "Timeouts", "DUR", "close a connection whose queued data cannot be written for this long", durationValue{&o.WriteTimeout}},
		{"handshake-timeout", "Timeouts", "DUR", "the whole HTTP upgrade request must arrive within this", durationValue{&o.HandshakeTimeout}},
		{"close-timeout", "Timeouts", "DUR", "how long a peer the server closes may take to answer (its close frame, or its FIN after a refusal)", durationValue{&o.CloseTimeout}},
		{"shutdown-timeout", "Timeouts", "DUR", "on SIGTERM/SIGINT: stop accepting, close 1001, wait this long, then force", durationValue{&o.ShutdownTimeout}},

		{"tls-cert", "TLS", "FILE", "certificate chain (PEM) to serve wss://; needs -tls-key; re-read on SIGHUP", stringValue{&o.TLSCert}},
		{"tls-key", "TLS", "FILE", "private key (PEM) of -tls-cert", stringValue{&o.TLSKey}},

		{"log-level", "Logging", "LEVEL", "debug, info, warn or error", choiceValue{&o.LogLevel, []string{"debug", "info", "warn", "error"}}},
		{"log-format", "Logging", "FORMAT", "json (one object per line, on stderr) or console (for humans)", choiceValue{&o.LogFormat, []string{"json", "console"}}},

		{"broker", "Cluster", "URL", `nats://host:port shares channels between nodes; "" keeps them in-process`, stringValue{&o.Broker}},
	}
}
