package natsbroker

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/wsedge/wsedge/routing"
)

// ErrUnavailable is wrapped by the errors of Publish (and New) when NATS cannot take the
// message: disconnected, reconnecting, closed or draining. It is a *routing.Error with code
// UNAVAILABLE, so errors.Is(err, ErrUnavailable) and errors.As(err, **routing.Error) both
// identify it; routing's publish handler answers any Broker error UNAVAILABLE.
var ErrUnavailable = &routing.Error{Code: routing.CodeUnavailable, Message: "channel broker unavailable"}

// ErrTooLarge is returned, unwrapped, by Publish for a frame larger than the NATS server's
// max_payload. Retrying cannot help, so it is INVALID_MESSAGE rather than UNAVAILABLE; raise
// max_payload to at least -max-message-size + 10 (a frame header: the message payload is never
// longer than the client's publish) to never see it.
var ErrTooLarge = &routing.Error{Code: routing.CodeInvalidMessage, Message: "message too large for the channel broker"}

// interestHub is the hook of routing.Hub that reports a channel's first local subscriber and
// the loss of its last one (see README.md, "Hub interest hook").
type interestHub interface {
	OnInterest(fn func(channel string, subscribed bool))
}

// Broker is a routing.Broker that shares channels between nodes through NATS. It is safe for
// concurrent use.
type Broker struct {
	nc   *nats.Conn
	hub  *routing.Hub
	log  *zap.Logger
	cfg  config
	subj subjects

	seed   maphash.Seed
	shards []chan *nats.Msg // per delivery goroutine; a channel always hashes to the same one
	bufs   sync.Pool        // *[]byte: subject scratch of Publish

	perChannel bool        // one NATS subscription per locally subscribed channel
	hooked     interestHub // the hub whose interest hook calls us, nil when not hooked

	mu     sync.Mutex // guards subs and closed
	subs   map[string]*nats.Subscription
	wild   *nats.Subscription // without per-channel interest: every channel's messages
	closed bool

	dirtyMu sync.Mutex // guards dirty
	dirty   map[string]struct{}
	kick    chan struct{} // wakes the reconciler of dirty channels

	ncClosed  chan struct{} // closed by nats.go's closed handler
	closeOnce sync.Once
	stop      chan struct{} // ends the delivery and reconcile goroutines
	wg        sync.WaitGroup

	published, refused, received, invalid, delivered, dropped atomic.Uint64
	warnedInvalid                                             atomic.Bool
}

// Stats are counters since New.
type Stats struct {
	Published     uint64 // frames handed to NATS by Publish
	Refused       uint64 // Publish calls answered with an error
	Received      uint64 // valid frames received from NATS (other nodes' publishes)
	Invalid       uint64 // messages on channel subjects that were not valid frames: ignored
	Delivered     uint64 // frames queued to local subscribers, local publishes included
	Dropped       uint64 // local subscribers that refused a frame (slow consumers)
	Subscriptions int    // NATS subscriptions held now
}

// New connects to the NATS server(s) at url (comma-separated list allowed, credentials in the
// URL or through NATSOptions) and returns a Broker that publishes this node's channel messages
// there and delivers other nodes' messages to hub. Pass it as routing.Options.Broker with the
// same hub as routing.Options.Hub. Create it before the hub has subscribers. log nil means no
// logging.
//
// If hub has the interest hook (Hub.OnInterest), the node subscribes exactly the subjects of
// channels that have local subscribers; otherwise it subscribes every channel's subject and
// ignores messages without local subscribers (correct, but every node receives every message).
func New(url string, hub *routing.Hub, log *zap.Logger, opts ...Option) (*Broker, error) {
	if hub == nil {
		return nil, errors.New("natsbroker: nil hub")
	}
	if log == nil {
		log = zap.NewNop()
	}
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	cfg.workers, cfg.queue = max(cfg.workers, 1), max(cfg.queue, 1)
	subj, err := newSubjects(cfg.prefix)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		hub:      hub,
		log:      log.With(zap.String("broker", "nats")),
		cfg:      cfg,
		subj:     subj,
		seed:     maphash.MakeSeed(),
		shards:   make([]chan *nats.Msg, cfg.workers),
		subs:     make(map[string]*nats.Subscription),
		dirty:    make(map[string]struct{}),
		kick:     make(chan struct{}, 1),
		ncClosed: make(chan struct{}),
		stop:     make(chan struct{}),
	}
	b.bufs.New = func() any { return new([]byte) }
	if cfg.mode != modeWildcard {
		b.hooked, _ = any(hub).(interestHub)
	}
	b.perChannel = b.hooked != nil || cfg.mode == modePerChannel

	b.nc, err = nats.Connect(url, b.natsOptions()...)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: connect to %s: %w: %w", redact(url), ErrUnavailable, err)
	}
	for i := range b.shards {
		b.shards[i] = make(chan *nats.Msg, cfg.queue)
		b.wg.Add(1)
		go b.deliverLoop(b.shards[i])
	}
	b.wg.Add(1)
	go b.reconcileLoop()

	if !b.perChannel {
		b.wild, err = b.nc.Subscribe(b.subj.wildcard(), b.route)
		if err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("natsbroker: subscribe %s: %w", b.subj.wildcard(), err)
		}
		b.log.Warn("hub has no interest hook: this node receives every channel's messages")
		b.flush()
	}
	if b.hooked != nil {
		b.hooked.OnInterest(b.interest)
	}
	return b, nil
}

// natsOptions are the nats.go options: defaults the caller may override first, then what the
// broker's guarantees depend on.
func (b *Broker) natsOptions() []nats.Option {
	o := []nats.Option{
		nats.Name(b.cfg.name),
		nats.Timeout(b.cfg.connectTimeout),
		nats.ReconnectWait(b.cfg.reconnectWait),
		nats.ReconnectBufSize(b.cfg.reconnectBuf),
		nats.DrainTimeout(b.cfg.drainTimeout),
	}
	o = append(o, b.cfg.natsOpts...)
	return append(o,
		nats.NoEcho(), // a node delivers its own publishes locally (see Publish)
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(b.cfg.retryConnect),
		nats.ConnectHandler(func(nc *nats.Conn) {
			b.log.Info("nats connected", zap.String("url", nc.ConnectedUrlRedacted()),
				zap.String("server", nc.ConnectedServerId()), zap.Int64("max_payload", nc.MaxPayload()))
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.log.Warn("nats disconnected; publishes answer UNAVAILABLE until reconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("nats reconnected", zap.String("url", nc.ConnectedUrlRedacted()))
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			b.log.Info("nats connection closed")
			b.closeOnce.Do(func() { close(b.ncClosed) })
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			f := []zap.Field{zap.Error(err)}
			if sub != nil {
				f = append(f, zap.String("subject", sub.Subject))
			}
			if errors.Is(err, nats.ErrSlowConsumer) {
				f = append(f, zap.String("hint", "messages from NATS are dropped: raise Delivery queue or workers"))
			}
			b.log.Warn("nats error", f...)
		}),
	)
}

// Publish sends frame to the other nodes on the channel's subject, then queues it to this
// node's subscribers. The NATS connection does not echo a node's own messages, so each
// subscriber gets the frame once and local subscribers do not wait for a NATS round trip. When
// NATS cannot take the message, nobody gets it and the error wraps ErrUnavailable.
func (b *Broker) Publish(channel string, frame []byte) error {
	if !b.nc.IsConnected() {
		b.refused.Add(1)
		return fmt.Errorf("natsbroker: publish on %q: %w: %s", channel, ErrUnavailable, b.nc.Status())
	}
	sp := b.bufs.Get().(*[]byte)
	subj := b.subj.append((*sp)[:0], channel)
	// nats.go copies the subject into its write buffer and does not keep it.
	err := b.nc.Publish(unsafe.String(unsafe.SliceData(subj), len(subj)), frame)
	*sp = subj
	b.bufs.Put(sp)
	if err != nil {
		b.refused.Add(1)
		if errors.Is(err, nats.ErrMaxPayload) {
			return ErrTooLarge
		}
		return fmt.Errorf("natsbroker: publish on %q: %w: %w", channel, ErrUnavailable, err)
	}
	b.published.Add(1)
	d, x := b.hub.Deliver(channel, frame)
	b.delivered.Add(uint64(d))
	if x > 0 {
		b.dropped.Add(uint64(x))
	}
	return nil
}

// Connected reports whether the NATS connection is up (for health checks).
func (b *Broker) Connected() bool { return b.nc.IsConnected() }

// Stats returns the counters.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	n := len(b.subs)
	if b.wild != nil {
		n++
	}
	b.mu.Unlock()
	return Stats{
		Published: b.published.Load(), Refused: b.refused.Load(),
		Received: b.received.Load(), Invalid: b.invalid.Load(),
		Delivered: b.delivered.Load(), Dropped: b.dropped.Load(),
		Subscriptions: n,
	}
}

// Close stops the broker: it detaches from the hub, drains the NATS connection (publishes
// already accepted are flushed, subscriptions end; while disconnected it just closes),
// delivers the messages already received, and returns once all of its goroutines have ended,
// within about DrainTimeout.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	if b.hooked != nil {
		b.hooked.OnInterest(nil)
	}
	var err error
	switch derr := b.nc.Drain(); {
	case derr == nil, errors.Is(derr, nats.ErrConnectionClosed):
	case errors.Is(derr, nats.ErrConnectionReconnecting):
		b.nc.Close() // nothing can be drained: the connection is down
	default:
		err = fmt.Errorf("natsbroker: drain: %w", derr)
		b.nc.Close()
	}
	select {
	case <-b.ncClosed:
	case <-time.After(b.cfg.drainTimeout + time.Second):
		err = errors.New("natsbroker: drain timed out")
		b.nc.Close()
		<-b.ncClosed
	}
	close(b.stop)
	b.wg.Wait()
	return err
}

// flush waits, within SubscribeFlushTimeout, until the server has processed what was sent so
// far (subscriptions), when connected.
func (b *Broker) flush() {
	if !b.nc.IsConnected() {
		return
	}
	if err := b.nc.FlushTimeout(b.cfg.flushTimeout); err != nil {
		b.log.Debug("nats flush", zap.Error(err))
	}
}

// redact hides passwords and tokens of the URLs in s (for errors and logs).
func redact(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		u.User = url.User("redacted")
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
