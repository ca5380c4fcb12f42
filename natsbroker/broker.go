package natsbroker

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/wsedge/wsedge/routing"
)

// ErrUnavailable is wrapped by the errors of Publish (and New) when NATS cannot take the
// message: disconnected, reconnecting, closed or draining. It is a *routing.Error with code
// UNAVAILABLE, so errors.Is(err, ErrUnavailable) and errors.As(err, **routing.Error) both
// identify it; routing's publish answers any cluster error UNAVAILABLE.
var ErrUnavailable = &routing.Error{Code: routing.CodeUnavailable, Message: "channel broker unavailable"}

// ErrTooLarge is returned, unwrapped, by Publish for a message larger than the NATS server's
// max_payload. Retrying cannot help, so it is INVALID_MESSAGE rather than UNAVAILABLE; raise
// max_payload to at least -max-message-size + 512 (the wire header; the payload is never
// longer than the client's publish) to never see it.
var ErrTooLarge = &routing.Error{Code: routing.CodeInvalidMessage, Message: "message too large for the channel broker"}

// Node is what the broker needs of the node it serves; *routing.Hub implements it. The other
// direction is routing.Cluster, which the Broker implements: hand the Broker to
// Hub.SetCluster.
type Node interface {
	// Deliver queues a publication received from another node (or a backend) to this node's
	// receivers of its target.
	Deliver(p routing.Publication) (delivered, dropped int)
	// Receivers is the number of this node's receivers of a target now.
	Receivers(kind routing.Kind, target string) int
}

// Broker is the routing.Cluster that shares channels and users between nodes through NATS,
// and carries commands between them (HandleCommand, Broadcast, Gather). It is safe for
// concurrent use.
type Broker struct {
	nc   *nats.Conn
	node Node
	log  *zap.Logger
	cfg  config
	subj subjects

	seed   maphash.Seed
	shards []chan *nats.Msg // per delivery goroutine; a target always hashes to the same one
	bufs   sync.Pool        // *pubBuf: scratch of Publish

	mu      sync.Mutex // guards subs, cmdSub and closed
	subs    map[subKey]*nats.Subscription
	cmdSub  *nats.Subscription
	closed  bool
	closing atomic.Bool // Close began: losing the connection is expected

	dirtyMu sync.Mutex // guards dirty
	dirty   map[subKey]struct{}
	kick    chan struct{} // wakes the reconciler of dirty targets

	cmds commands

	origin uint64     // this process's origin id in the cluster format (random, never 0)
	pubMu  sync.Mutex // orders the publishes and their sequence numbers
	seq    uint64     // the last sequence number stamped, under pubMu

	ho handoverState // the restart without reconnects (handover.go)

	ncClosed  chan struct{} // closed by nats.go's closed handler
	closeOnce sync.Once
	stop      chan struct{} // ends the delivery, reconcile and heartbeat goroutines
	wg        sync.WaitGroup

	published, refused, received, malformed, unknownVersion atomic.Uint64
	delivered, dropped, natsDroppedGone, commandsIn         atomic.Uint64
	warnedInvalid                                           atomic.Bool
}

// subKey names one NATS subscription of a target.
type subKey struct {
	kind   routing.Kind
	target string
}

// pubBuf is Publish's scratch: the subject and the wire message.
type pubBuf struct{ subj, msg []byte }

// Stats are counters since New.
type Stats struct {
	Published      uint64 // messages handed to NATS by Publish
	Refused        uint64 // Publish calls answered with an error
	Received       uint64 // channel and user messages received from other nodes and backends
	Malformed      uint64 // messages on wsedge subjects that could not be used: dropped
	UnknownVersion uint64 // binary messages of a wire version this node does not know: dropped
	Delivered      uint64 // local receivers the received messages were queued to
	Dropped        uint64 // local receivers that refused one (slow consumers being closed)
	NATSDropped    uint64 // messages NATS dropped because a delivery queue was full
	Commands       uint64 // commands from other nodes handled here
	Subscriptions  int    // NATS subscriptions of channels and users held now
	Connected      bool
}

// New connects to the NATS server(s) at url (comma-separated list allowed, credentials in the
// URL or through the Credentials and NATSOptions options) and returns a Broker that delivers
// what other nodes publish to node. Then pass it to the node's Hub.SetCluster, before the hub
// has subscribers. log nil means no logging.
func New(url string, node Node, log *zap.Logger, opts ...Option) (*Broker, error) {
	if node == nil {
		return nil, errors.New("natsbroker: nil node")
	}
	if log == nil {
		log = zap.NewNop()
	}
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	subj, err := newSubjects(cfg.prefix)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		node:     node,
		log:      log.With(zap.String("broker", "nats")),
		cfg:      cfg,
		subj:     subj,
		seed:     maphash.MakeSeed(),
		shards:   make([]chan *nats.Msg, cfg.workers),
		subs:     make(map[subKey]*nats.Subscription),
		dirty:    make(map[subKey]struct{}),
		kick:     make(chan struct{}, 1),
		ncClosed: make(chan struct{}),
		stop:     make(chan struct{}),
	}
	b.origin = newOrigin()
	b.ho.init(cfg.standby)
	b.bufs.New = func() any { return new(pubBuf) }
	b.cmds.init()
	natsOpts, err := b.natsOptions()
	if err != nil {
		return nil, err
	}
	b.nc, err = nats.Connect(url, natsOpts...)
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
	if !cfg.standby {
		if err := b.startCommands(); err != nil {
			_ = b.Close()
			return nil, err
		}
	}
	return b, nil
}

// natsOptions are the nats.go options: defaults the caller may override first, then what the
// broker's guarantees depend on.
func (b *Broker) natsOptions() ([]nats.Option, error) {
	o := []nats.Option{
		nats.Name("wsedge " + b.cfg.name),
		nats.Timeout(b.cfg.connectTimeout),
		nats.ReconnectWait(b.cfg.reconnectWait),
		nats.ReconnectBufSize(b.cfg.reconnectBuf),
		nats.DrainTimeout(b.cfg.drainTimeout),
	}
	sec, err := b.cfg.security()
	if err != nil {
		return nil, err
	}
	o = append(o, sec...)
	o = append(o, b.cfg.natsOpts...)
	return append(o,
		nats.NoEcho(), // a node delivers its own publishes locally (routing.Hub.Send)
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(b.cfg.retryConnect),
		nats.ConnectHandler(func(nc *nats.Conn) {
			b.log.Info("nats connected", zap.String("url", nc.ConnectedUrlRedacted()),
				zap.String("server", nc.ConnectedServerId()), zap.Int64("max_payload", nc.MaxPayload()))
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if b.closing.Load() {
				return // our own Close: nothing the operator needs to hear about
			}
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
	), nil
}

// Publish sends p to the other nodes on its target's subject (routing.Cluster). The NATS
// connection does not echo a node's own messages: the Hub serves local receivers itself. When
// NATS cannot take the message the error wraps ErrUnavailable (or is ErrTooLarge).
func (b *Broker) Publish(p routing.Publication) error {
	if b.closing.Load() || !b.nc.IsConnected() {
		b.refused.Add(1)
		return fmt.Errorf("natsbroker: publish to %s %q: %w: %s", p.Kind, p.Target, ErrUnavailable, b.nc.Status())
	}
	if b.ho.relaying.Load() {
		// Handed over (StartRelay): the new process drops what this origin publishes from
		// now on (it could not tell it from what was delivered here before COMMIT), so a
		// connection that stayed here (TLS, being closed with 1012) must publish again
		// through the new process.
		b.refused.Add(1)
		return fmt.Errorf("natsbroker: publish to %s %q: %w: this process handed the node over", p.Kind, p.Target, ErrUnavailable)
	}
	if len(p.Target) > maxField {
		b.refused.Add(1)
		return ErrTooLarge
	}
	pb := b.bufs.Get().(*pubBuf)
	pb.subj = b.subj.append(pb.subj[:0], p.Kind, p.Target)
	e := envelope{kind: wireKind(p.Kind), origin: b.cfg.name, target: p.Target, exclude: p.Exclude, originID: b.origin}
	pb.msg = appendEnvelope(pb.msg[:0], &e, p.Payload.Payload())
	// nats.go copies subject and data into its write buffer and keeps neither.
	err := b.publish(str(pb.subj), "", pb.msg)
	b.bufs.Put(pb)
	if err != nil {
		b.refused.Add(1)
		if errors.Is(err, nats.ErrMaxPayload) {
			return ErrTooLarge
		}
		return fmt.Errorf("natsbroker: publish to %s %q: %w: %w", p.Kind, p.Target, ErrUnavailable, err)
	}
	b.published.Add(1)
	return nil
}

// publish hands msg (built by appendEnvelope with originID set) to NATS on subj, with reply
// as its reply subject ("" for none), after stamping the next sequence number into it. Both
// happen under pubMu, so the numbers grow in the order NATS gets the messages: what the
// restart without reconnects relies on to tell which messages the old process relayed.
func (b *Broker) publish(subj, reply string, msg []byte) error {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	b.seq++
	binary.BigEndian.PutUint64(msg[seqAt:], b.seq)
	if reply == "" {
		return b.nc.Publish(subj, msg)
	}
	return b.nc.PublishRequest(subj, reply, msg)
}

// newOrigin is a random origin id: 64 bits per process start, never 0 (0 means none).
func newOrigin() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

// Origin is this process's origin id in the cluster format: random at New, so a node
// restarted in place (or handed over) is a new origin.
func (b *Broker) Origin() uint64 { return b.origin }

// Connected reports whether the NATS connection is up (for health checks).
func (b *Broker) Connected() bool { return b.nc.IsConnected() }

// Name is this node's name (the Name option), as other nodes see it.
func (b *Broker) Name() string { return b.cfg.name }

// Stats returns the counters.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	n := len(b.subs)
	natsDropped := b.natsDroppedGone.Load()
	for _, s := range b.subs {
		if d, err := s.Dropped(); err == nil {
			natsDropped += uint64(d)
		}
	}
	b.mu.Unlock()
	return Stats{
		Published: b.published.Load(), Refused: b.refused.Load(),
		Received: b.received.Load(), Malformed: b.malformed.Load(), UnknownVersion: b.unknownVersion.Load(),
		Delivered: b.delivered.Load(), Dropped: b.dropped.Load(), NATSDropped: natsDropped,
		Commands: b.commandsIn.Load(), Subscriptions: n, Connected: b.nc.IsConnected(),
	}
}

// Close stops the broker: it drains the NATS connection (publishes already accepted are
// flushed, subscriptions end; while disconnected it just closes), delivers the messages
// already received, and returns once all of its goroutines have ended, within about
// DrainTimeout. Later publishes answer UNAVAILABLE.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.closing.Store(true)
	b.sayBye()
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
