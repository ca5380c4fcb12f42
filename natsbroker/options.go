package natsbroker

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/nats-io/nats.go"
)

// Option changes a default of New.
type Option func(*config)

type config struct {
	name           string
	prefix         string
	connectTimeout time.Duration
	retryConnect   bool
	reconnectWait  time.Duration
	reconnectBuf   int
	drainTimeout   time.Duration
	flushTimeout   time.Duration
	workers        int
	queue          int
	heartbeat      time.Duration
	credsFile      string
	tlsCA          string
	tlsCert        string
	tlsKey         string
	natsOpts       []nats.Option
	standby        bool
}

// maxNameLen bounds a node name: it travels in every message.
const maxNameLen = 128

func defaults() config {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "wsedge"
	}
	return config{
		name:           name,
		prefix:         DefaultSubjectPrefix,
		connectTimeout: 2 * time.Second,
		reconnectWait:  time.Second,
		reconnectBuf:   1 << 20,
		drainTimeout:   5 * time.Second,
		flushTimeout:   time.Second,
		workers:        runtime.GOMAXPROCS(0),
		queue:          4096,
		heartbeat:      2 * time.Second,
	}
}

// check validates the configuration as one clear error.
func (c *config) check() error {
	switch {
	case c.name == "" || len(c.name) > maxNameLen:
		return fmt.Errorf("natsbroker: node name must be 1 to %d bytes, not %d", maxNameLen, len(c.name))
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return errors.New("natsbroker: a TLS client certificate needs its key, and a key its certificate")
	case c.heartbeat <= 0:
		return errors.New("natsbroker: heartbeat interval must be positive")
	}
	c.workers, c.queue = max(c.workers, 1), max(c.queue, 1)
	return nil
}

// security turns the credentials and TLS options into nats.go options; the files are read
// (and their errors reported) here, at New.
func (c *config) security() ([]nats.Option, error) {
	var o []nats.Option
	for _, f := range []string{c.credsFile, c.tlsCA, c.tlsCert, c.tlsKey} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("natsbroker: %w", err)
		}
	}
	if c.credsFile != "" {
		o = append(o, nats.UserCredentials(c.credsFile))
	}
	if c.tlsCA != "" {
		o = append(o, nats.RootCAs(c.tlsCA))
	}
	if c.tlsCert != "" {
		o = append(o, nats.ClientCert(c.tlsCert, c.tlsKey))
	}
	return o, nil
}

// Name sets this node's name: the origin of its messages, what Gather and Peers report, and
// part of the NATS connection name (default: the host name). At most 128 bytes; it should be
// unique in the cluster (the server's default is host name and port).
func Name(name string) Option { return func(c *config) { c.name = name } }

// Credentials authenticates to NATS with a credentials file (a user JWT and its NKey seed, as
// made by nsc).
func Credentials(file string) Option { return func(c *config) { c.credsFile = file } }

// TLS verifies the NATS server against the CA certificates in caFile (PEM; "" for the system
// roots) and, when certFile and keyFile are given, presents that client certificate. A
// tls:// URL, or a server that requires TLS, turns TLS on.
func TLS(caFile, certFile, keyFile string) Option {
	return func(c *config) { c.tlsCA, c.tlsCert, c.tlsKey = caFile, certFile, keyFile }
}

// Heartbeat sets how often the node announces itself to the others (default 2s). A node not
// heard from for three intervals is no longer a peer (Peers), and Gather stops waiting for it.
func Heartbeat(d time.Duration) Option { return func(c *config) { c.heartbeat = d } }

// SubjectPrefix sets the subject prefix (default DefaultSubjectPrefix). Nodes share channels
// only when they use the same prefix: separate clusters on one NATS can use different ones.
func SubjectPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// ConnectTimeout bounds each connection attempt (default 2s).
func ConnectTimeout(d time.Duration) Option { return func(c *config) { c.connectTimeout = d } }

// RetryOnFailedConnect makes New succeed when NATS cannot be reached at start: the node serves,
// publishes answer UNAVAILABLE, and the connection is retried in the background like a
// reconnect. By default New fails, so that a wrong -broker address stops the node at once.
func RetryOnFailedConnect() Option { return func(c *config) { c.retryConnect = true } }

// ReconnectWait is the pause between reconnect attempts (default 1s; nats.go adds up to 100ms
// of jitter). Reconnects never give up.
func ReconnectWait(d time.Duration) Option { return func(c *config) { c.reconnectWait = d } }

// ReconnectBufSize bounds the bytes nats.go buffers while disconnected (default 1 MiB).
// Publish refuses as soon as the connection is known to be down, so the buffer only holds what
// was published in the moment before the loss was noticed.
func ReconnectBufSize(n int) Option { return func(c *config) { c.reconnectBuf = n } }

// DrainTimeout bounds Close (default 5s).
func DrainTimeout(d time.Duration) Option { return func(c *config) { c.drainTimeout = d } }

// SubscribeFlushTimeout bounds the round trip that makes a channel's first local subscription
// known to the NATS server before the subscribe is acknowledged (default 1s).
func SubscribeFlushTimeout(d time.Duration) Option {
	return func(c *config) { c.flushTimeout = d }
}

// Delivery sets the goroutines that hand messages from NATS to the hub (default GOMAXPROCS;
// a channel always maps to the same one, which keeps its messages in order) and how many
// messages each may have waiting (default 4096). Past that the node is a slow consumer: NATS
// messages are dropped and counted, and the error is logged.
func Delivery(workers, queue int) Option {
	return func(c *config) { c.workers, c.queue = workers, queue }
}

// NATSOptions passes further nats.go options (other authentication methods, custom TLS).
// They cannot change what the broker relies on: no echo, unlimited reconnects and its event
// handlers.
func NATSOptions(opts ...nats.Option) Option {
	return func(c *config) { c.natsOpts = append(c.natsOpts, opts...) }
}
