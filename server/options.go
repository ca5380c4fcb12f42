package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/limits"
	"github.com/wsedge/wsedge/poller"
)

// Options configures a whole wsedge node: one struct, filled from flags and
// the environment by cmd/wsedge and passed down explicitly. For every count or
// rate limit, 0 switches that limit off.
type Options struct {
	Addr      string // listen address for WebSocket clients
	AdminAddr string // metrics, health and pprof; "" disables
	Path      string // JSON protocol endpoint
	EchoPath  string // echo endpoint; "" disables
	// Demo serves the demo page at / on Addr (the client library at
	// /wsedge.js is served either way). On by default; off for production.
	Demo bool

	Poller       string // event-loop backend: "epoll" (Linux), "uring" (Linux with io_uring) or "std"; "" = the default for the OS
	Loops        int    // event loops; 0 = GOMAXPROCS
	Workers      int    // worker pool size; 0 = 4 x GOMAXPROCS
	Queue        int    // worker queue bound (messages)
	QueuePerConn int    // one connection's share of Queue (messages)

	MaxConns      int     // global connection cap
	MaxConnsPerIP int     // per-IP connection cap
	ConnRate      float64 // new connections per minute per IP
	ConnBurst     int     // token bucket burst
	RateTableSize int     // IPs tracked by the connection-rate table; 0 = the limits package default (786,432)

	// LimitLoopback applies the per-IP rate and cap to loopback peers too.
	// Off by default: a loopback peer is this host itself (a local reverse
	// proxy without -trusted-proxies, a health checker, a load test), and
	// counting them all as one client would refuse everybody behind them.
	LimitLoopback bool

	AllowedOrigins string // comma list; "" = no Origin or same host; "*" = any
	TrustedProxies string // CIDRs whose X-Forwarded-For is believed

	MaxMessageSize int64   // bytes, inclusive
	MsgRate        float64 // inbound messages per second per connection
	MsgBurst       int
	WriteQueue     int // bytes queued per connection before it is dropped

	PingInterval     time.Duration
	IdleTimeout      time.Duration
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	HandshakeTimeout time.Duration
	ShutdownTimeout  time.Duration

	TLSCert string
	TLSKey  string
	// TLSRecordLayer protects data after the handshake: "compact" (TLS 1.3
	// on package tlsrecord, crypto/tls for TLS 1.2) or "stdlib" (crypto/tls
	// end to end); TLSCipherIdle is how long compact cipher state may stay
	// unused before it is dropped (0: kept). See server/tls.go.
	TLSRecordLayer string
	TLSCipherIdle  time.Duration

	LogLevel  string
	LogFormat string

	Broker        string // "" in-process, or nats://host:port
	NodeName      string // this node in the cluster; "" = host name and -addr port
	BrokerCreds   string // NATS credentials file
	BrokerTLSCA   string // CA certificates (PEM) that sign the NATS servers' certificates
	BrokerTLSCert string // client certificate (PEM) for NATS
	BrokerTLSKey  string // its key
	BrokerRetry   bool   // start while NATS is unreachable (publishes answer UNAVAILABLE until it is)

	// Tick is the timer wheel resolution; 0 derives it from the timeouts
	// (a tenth of the shortest, between 1ms and 1s). Not a flag: tests set it.
	Tick time.Duration
	// MaxHeaderBytes bounds the HTTP upgrade request head (400 past it).
	MaxHeaderBytes int
	// MaxChannels bounds the channels one connection may subscribe to.
	MaxChannels int
	// AuthOptions: identity, permissions, backend calls (options_auth.go).
	AuthOptions
	// BackendOptions: RPC bounds, presence, join/leave (options_backend.go).
	BackendOptions

	// The server API listener (docs/api.md; checked in options_api.go).
	APIAddr     string        // "" = no API listener
	APIKey      string        // never logged; also from APIKeyFile or WSEDGE_API_KEY
	APIKeyFile  string        // file holding the key (a trailing newline is dropped)
	APIMaxBody  int64         // bytes of a request body; past it 413
	APIMaxConns int           // open API connections; past it new ones wait
	APITimeout  time.Duration // one API call; past it 503 UNAVAILABLE
	APITLSCert  string        // serve the API over HTTPS with this chain (PEM)
	APITLSKey   string
	// CloseTimeout bounds how long a connection the server closes may take
	// to answer: the peer's close frame after an idle close, its FIN after
	// a refusal or a protocol failure.
	CloseTimeout time.Duration

	// Lame duck, drain and readiness (ready.go, drain.go).
	// LameDuck is how long the node keeps serving after SIGTERM with /ready
	// answering 503, before the drain starts (cmd/wsedge waits it); 0: none.
	LameDuck time.Duration
	// DrainSpread is the window a drain spreads its 1012 closes over (at
	// most 1 ms per connection, and within ShutdownTimeout); 0: all at once.
	DrainSpread time.Duration
	// HandoverTimeout bounds a restart without reconnects (SIGUSR2): the
	// wait for the new process to be ready, then the whole handover; past
	// it the old process takes everything back and serves on. What did not
	// move (TLS connections) is drained within it after COMMIT.
	HandoverTimeout time.Duration
	// HandoverNATSOverlap is, with -broker, how long the old process keeps
	// its NATS subscriptions after the new process reported its own up,
	// before it unsubscribes and sends NATSEND: it covers messages the NATS
	// server matched before the new subscriptions and delivers after
	// (docs/design.md, "Exactly once during the window").
	HandoverNATSOverlap time.Duration
	// HandoverSuccessor is set by cmd/wsedge (not a flag) when this process
	// was started by an old one's SIGUSR2: its broker subscribes nothing
	// until COMMIT (natsbroker.Standby).
	HandoverSuccessor bool
	// ReadyBroker makes /ready answer 503 while the -broker connection is
	// down (so a node cut off from the cluster leaves the load balancer).
	ReadyBroker bool
	// Compression is permessage-deflate (RFC 7692; docs/compression.md):
	// -compression (Mode), -compression-level, -compression-min-size and
	// -compression-window-bits (WindowBits, the client window the server
	// keeps in context-takeover mode). Shared read-only by every connection.
	Compression codec.Deflate
	// MemoryTrimAfter: once no connection has been accepted for this long
	// and the memory the process retains grew by MemoryTrimGrowth bytes
	// since the last trim, the heap's free pages go back to the OS (two
	// forced GCs; at most one trim per MemoryTrimAfter; memtrim.go). 0: never.
	MemoryTrimAfter  time.Duration
	MemoryTrimGrowth int
}

// Defaults returns the documented defaults of every option.
func Defaults() Options {
	return Options{
		Addr:             ":8080",
		AdminAddr:        "127.0.0.1:9090",
		Path:             "/ws",
		EchoPath:         "/echo",
		Demo:             true,
		Queue:            4096,
		QueuePerConn:     64,
		MaxConns:         1000000,
		MaxConnsPerIP:    10,
		ConnRate:         60,
		ConnBurst:        10,
		MaxMessageSize:   64 << 10,
		WriteQueue:       1 << 20,
		PingInterval:     30 * time.Second,
		IdleTimeout:      5 * time.Minute,
		ReadTimeout:      30 * time.Second,
		WriteTimeout:     10 * time.Second,
		HandshakeTimeout: 5 * time.Second,
		ShutdownTimeout:  30 * time.Second,
		TLSRecordLayer:   "compact",
		TLSCipherIdle:    time.Second,
		MaxHeaderBytes:   8 << 10,
		MaxChannels:      64,
		CloseTimeout:     2 * time.Second,
		LogLevel:         "info",
		LogFormat:        "json",
		AuthOptions:      authDefaults(),
		BackendOptions:   backendDefaults(),
		APIMaxBody:       1 << 20,
		APIMaxConns:      1024,
		APITimeout:       5 * time.Second,
		DrainSpread:      10 * time.Second,
		HandoverTimeout:  30 * time.Second,
		ReadyBroker:      true,
		MemoryTrimAfter:  time.Second,
		MemoryTrimGrowth: 4 << 20,

		HandoverNATSOverlap: time.Second,
		Compression: codec.Deflate{
			Mode:       codec.ModeOff,
			Level:      codec.DefaultCompressionLevel,
			MinSize:    codec.DefaultCompressionMinSize,
			WindowBits: 15,
		},
	}
}

// Validate reports the first inconsistent option as one clear line.
func (o *Options) Validate() error {
	switch {
	case o.Path == "" || o.Path[0] != '/':
		return fmt.Errorf("-path: %q must start with /", o.Path)
	case o.EchoPath != "" && o.EchoPath[0] != '/':
		return fmt.Errorf("-echo-path: %q must start with /", o.EchoPath)
	case o.EchoPath == o.Path:
		return errors.New("-echo-path must differ from -path")
	case o.Path == "/health" || o.EchoPath == "/health":
		return errors.New("/health is reserved for the health check")
	case o.Poller != "" && !slices.Contains(poller.Backends(), o.Poller):
		return fmt.Errorf("-poller: %q is not available here (choose from %s)", o.Poller, strings.Join(poller.Backends(), ", "))
	case (o.TLSCert == "") != (o.TLSKey == ""):
		if o.TLSCert == "" {
			return errors.New("-tls-key given without -tls-cert")
		}
		return errors.New("-tls-cert given without -tls-key")
	case (o.BrokerTLSCert == "") != (o.BrokerTLSKey == ""):
		return errors.New("-broker-tls-cert and -broker-tls-key go together")
	case len(o.NodeName) > 128:
		return errors.New("-node-name: at most 128 bytes")
	}
	for _, c := range []struct {
		name string
		v    float64
	}{
		{"-loops", float64(o.Loops)}, {"-workers", float64(o.Workers)}, {"-queue", float64(o.Queue)},
		{"-queue-per-conn", float64(o.QueuePerConn)},
		{"-max-conns", float64(o.MaxConns)}, {"-max-conns-per-ip", float64(o.MaxConnsPerIP)},
		{"-conn-rate", o.ConnRate}, {"-conn-burst", float64(o.ConnBurst)},
		{"-max-message-size", float64(o.MaxMessageSize)}, {"-msg-rate", o.MsgRate},
		{"-msg-burst", float64(o.MsgBurst)}, {"-write-queue", float64(o.WriteQueue)},
		{"-ping-interval", float64(o.PingInterval)}, {"-idle-timeout", float64(o.IdleTimeout)},
		{"-read-timeout", float64(o.ReadTimeout)}, {"-write-timeout", float64(o.WriteTimeout)},
		{"-handshake-timeout", float64(o.HandshakeTimeout)}, {"-shutdown-timeout", float64(o.ShutdownTimeout)},
		{"-lameduck", float64(o.LameDuck)}, {"-drain-spread", float64(o.DrainSpread)},
		{"-handover-timeout", float64(o.HandoverTimeout)}, {"-handover-nats-overlap", float64(o.HandoverNATSOverlap)},
		{"-memory-trim-after", float64(o.MemoryTrimAfter)}, {"-memory-trim-growth", float64(o.MemoryTrimGrowth)},
	} {
		if c.v < 0 {
			return fmt.Errorf("%s: must not be negative", c.name)
		}
	}
	// A connection's times are 32-bit stamps read within poller.MaxTimer (24 days).
	for _, c := range []struct {
		name string
		d    time.Duration
	}{
		{"-ping-interval", o.PingInterval}, {"-idle-timeout", o.IdleTimeout}, {"-read-timeout", o.ReadTimeout},
		{"-write-timeout", o.WriteTimeout}, {"-handshake-timeout", o.HandshakeTimeout},
		{"-close-timeout", o.CloseTimeout}, {"-tls-cipher-idle", o.TLSCipherIdle},
	} {
		if c.d > poller.MaxTimer {
			return fmt.Errorf("%s: %v is over the 576h (24 days) a connection's timer reaches", c.name, c.d)
		}
	}
	if o.MaxHeaderBytes < 1<<10 || o.MaxHeaderBytes > 1<<20 {
		return fmt.Errorf("-max-header-size: %d bytes is outside 1KiB..1MiB", o.MaxHeaderBytes)
	}
	if o.MaxChannels < 0 {
		return errors.New("-max-channels: must not be negative")
	}
	if o.CloseTimeout <= 0 {
		return errors.New("-close-timeout: must be positive")
	}
	if o.ConnRate > 0 && o.ConnBurst == 0 {
		return errors.New("-conn-burst must be at least 1 when -conn-rate is on")
	}
	if o.MsgRate > 0 && o.MsgBurst == 0 {
		return errors.New("-msg-burst must be at least 1 when -msg-rate is on")
	}
	if _, err := limits.ParseOrigins(o.AllowedOrigins); err != nil {
		return fmt.Errorf("-allowed-origins: %w", err)
	}
	if _, err := limits.ParseTrustedProxies(o.TrustedProxies); err != nil {
		return fmt.Errorf("-trusted-proxies: %w", err)
	}
	if err := o.validateCompression(); err != nil {
		return err
	}
	if err := o.validateTLS(); err != nil {
		return err
	}
	if errs := o.ValidateAuth(); len(errs) > 0 {
		return errs[0]
	}
	if err := o.ValidateAPI(); err != nil {
		return err
	}
	return o.ValidateBackend()
}

// tick picks the timer wheel resolution: fine enough for the shortest
// timeout, coarse enough to cost nothing.
func (o *Options) tick() time.Duration {
	if o.Tick > 0 {
		return o.Tick
	}
	shortest := time.Second * 10
	cipherIdle := time.Duration(0)
	if o.TLSCert != "" {
		cipherIdle = o.TLSCipherIdle
	}
	for _, d := range []time.Duration{o.PingInterval, o.IdleTimeout, o.ReadTimeout, o.WriteTimeout, o.HandshakeTimeout, o.CloseTimeout, cipherIdle} {
		if d > 0 && d < shortest {
			shortest = d
		}
	}
	t := shortest / 10
	return min(max(t, time.Millisecond), time.Second)
}

// nodeName is -node-name, or this host's name and the port of -addr: unique among the nodes
// of a cluster as long as host names are.
func (o *Options) nodeName() string {
	if o.NodeName != "" {
		return o.NodeName
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "wsedge"
	}
	_, port, err := net.SplitHostPort(o.Addr)
	if err != nil || port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}

// validateCompression names the flag at fault.
func (o *Options) validateCompression() error {
	c := &o.Compression
	switch {
	case c.Mode > codec.ModeContextTakeover:
		return fmt.Errorf("-compression: mode %d unknown (want off, no-context-takeover or context-takeover)", c.Mode)
	case c.Level < 0 || c.Level > 9:
		return fmt.Errorf("-compression-level: %d is outside 1..9", c.Level)
	case c.MinSize < 0:
		return errors.New("-compression-min-size: must not be negative")
	case c.WindowBits != 0 && (c.WindowBits < 9 || c.WindowBits > 15):
		return fmt.Errorf("-compression-window-bits: %d is outside 9..15", c.WindowBits)
	}
	return c.Validate() // what the codec checks beyond these, if it ever does more
}
