package natsbroker

import (
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
	natsOpts       []nats.Option
	// mode chooses how the node subscribes; tests force one (modePerChannel without a hub
	// hook means the test reports interest changes itself).
	mode mode
}

type mode int

const (
	modeAuto       mode = iota // per channel if the hub has the interest hook, else wildcard
	modePerChannel             // one subscription per locally subscribed channel
	modeWildcard               // one subscription to every channel
)

func defaults() config {
	return config{
		name:           "wsedge",
		prefix:         DefaultSubjectPrefix,
		connectTimeout: 2 * time.Second,
		reconnectWait:  time.Second,
		reconnectBuf:   1 << 20,
		drainTimeout:   5 * time.Second,
		flushTimeout:   time.Second,
		workers:        runtime.GOMAXPROCS(0),
		queue:          4096,
	}
}

// Name sets the NATS connection name shown by the server's monitoring (default "wsedge").
func Name(name string) Option { return func(c *config) { c.name = name } }

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

// NATSOptions passes further nats.go options: credentials, TLS, more server URLs. They cannot
// change what the broker relies on: no echo, unlimited reconnects and its event handlers.
func NATSOptions(opts ...nats.Option) Option {
	return func(c *config) { c.natsOpts = append(c.natsOpts, opts...) }
}
