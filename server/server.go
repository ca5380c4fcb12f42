package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"
	"go.uber.org/zap"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/limits"
	"github.com/wsedge/wsedge/metrics"
	"github.com/wsedge/wsedge/natsbroker"
	"github.com/wsedge/wsedge/poller"
	"github.com/wsedge/wsedge/routing"
	"github.com/wsedge/wsedge/tlsconn"
)

// Server is a wsedge node: event loops, edge limits, codec and router.
type Server struct {
	opts    Options
	log     *zap.Logger
	m       *metrics.Metrics
	poll    *poller.Poller
	router  *routing.Router
	origins *limits.Origins
	trusted *limits.Trusted
	adm     *limits.Admission
	sampler *limits.Sampler
	// acceptLog thins accept-error lines: one a second, with a count.
	acceptLog *limits.Sampler
	codec     codec.Config
	msgRate   limits.MsgRateConfig
	ups       []*upgrader
	site      site               // the files answered on the main port (static.go)
	nats      *natsbroker.Broker // nil without -broker
	be        *backend           // the application backend's side: API, RPC, presence (backend.go)
	id        *idState           // identity and permissions (identity.go)
	certs     *certStore
	tlsConf   *tlsconn.Config     // nil without -tls-cert
	zbufs     bytebufferpool.Pool // scratch for compressed frames, held for one write
	zm        zcounters
	ho        handoverState // restart without reconnects (handover_*.go)

	stats []loopStats // per loop, written by that loop only

	started  time.Time
	draining atomic.Bool
	state    nodeState     // lame duck and readiness (ready.go)
	open     atomic.Int64  // upgraded WebSocket connections
	accepted atomic.Uint64 // sockets accepted: the activity -memory-trim-after waits to go quiet

	// sweepEvery is how often the connection-rate table gives back the
	// memory of refilled buckets (a flood of addresses leaves many).
	sweepEvery time.Duration
	stop       chan struct{} // closed by Close: ends the sweeper
	stopOnce   sync.Once
}

// New checks opts and builds a server; Start binds and runs it.
func New(opts Options, log *zap.Logger, m *metrics.Metrics) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = metrics.New()
	}
	origins, err := limits.ParseOrigins(opts.AllowedOrigins)
	if err != nil {
		return nil, fmt.Errorf("-allowed-origins: %w", err)
	}
	trusted, err := limits.ParseTrustedProxies(opts.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("-trusted-proxies: %w", err)
	}
	s := &Server{
		opts:    opts,
		log:     log,
		m:       m,
		origins: origins,
		trusted: trusted,
		sampler: limits.NewSampler(10),

		acceptLog: limits.NewSampler(1),

		sweepEvery: 10 * time.Second,
		stop:       make(chan struct{}),
		codec:      codec.Config{MaxMessageSize: opts.MaxMessageSize},
		msgRate:    limits.MsgRateConfig{PerSecond: opts.MsgRate, Burst: opts.MsgBurst},
		site:       newSite(opts.Demo),
		zm:         newZCounters(m),
	}
	// The values in use, for Options() and the startup log.
	if s.opts.Poller == "" {
		s.opts.Poller = poller.Backends()[0]
	}
	if s.opts.Loops == 0 {
		s.opts.Loops = runtime.GOMAXPROCS(0)
	}
	if s.opts.Workers == 0 {
		s.opts.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	fitMaxConns(&s.opts, openFilesLimit(), log)
	s.adm = limits.NewAdmission(limits.AdmissionConfig{
		ConnPerMinute:  opts.ConnRate,
		ConnBurst:      opts.ConnBurst,
		MaxConns:       s.opts.MaxConns,
		MaxConnsPerIP:  opts.MaxConnsPerIP,
		RateMaxEntries: opts.RateTableSize,
		LimitLoopback:  opts.LimitLoopback,
	})
	if opts.TLSCert != "" {
		s.certs = &certStore{certFile: opts.TLSCert, keyFile: opts.TLSKey}
		if err := s.certs.load(); err != nil {
			return nil, err
		}
		s.tlsConf = s.newTLSConfig()
	}
	maxChannels := opts.MaxChannels
	if maxChannels == 0 {
		maxChannels = -1 // 0 switches the limit off; the hub reads 0 as its default
	}
	hub := routing.NewHub(maxChannels)
	if opts.Broker != "" {
		nb, err := natsbroker.New(opts.Broker, hub, log, brokerOptions(&opts)...)
		if err != nil {
			return nil, fmt.Errorf("-broker %s: %w", opts.Broker, err)
		}
		hub.SetCluster(nb)
		s.nats = nb
		m.WatchBroker(func() metrics.BrokerStats { return brokerStats(nb) })
	}
	// Refusals waiting for their turn are bounded like replies already written: by
	// -write-queue, or the write queue's own 1 GiB cap when that is off.
	noteBytes := opts.WriteQueue
	if noteBytes == 0 {
		noteBytes = 1 << 30
	}
	s.router = routing.New(routing.Options{
		Workers: s.opts.Workers, Queue: opts.Queue, PerConn: opts.QueuePerConn,
		NoteBytes: noteBytes, Logger: log, Hub: hub,
	})
	s.router.Use(routing.DefaultMiddleware(log)...)
	routing.RegisterBuiltins(s.router)
	err = s.newIdentity()
	if err == nil {
		err = s.initBackend()
	}
	if err != nil {
		s.id.close()
		s.router.Close()
		if s.nats != nil {
			s.nats.Close()
		}
		return nil, err
	}
	s.ho.init(m)
	m.WatchQueue(func() float64 { return float64(s.router.Queued()) })
	m.WatchDraining(s.draining.Load)
	m.WatchLameDuck(s.state.lameduck.Load)
	m.WatchReady(s.isReady)
	return s, nil
}

// Router is where applications register their own message types.
func (s *Server) Router() *routing.Router { return s.router }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *metrics.Metrics { return s.m }

// Options returns the options in use: defaults filled in (-loops, -workers)
// and -max-conns fitted to the open-files limit.
func (s *Server) Options() Options { return s.opts }

// Start binds opts.Addr and starts the event loops. It returns at once.
func (s *Server) Start() error { return s.start(nil) }

// start runs the event loops on ln, or on a new listener bound to
// opts.Addr when ln is nil. A listener handed over by the old process
// (StartInherited) stays unwatched until the handover commits.
func (s *Server) start(ln net.Listener) error {
	cfg := poller.Config{
		Backend:       s.opts.Poller,
		Loops:         s.opts.Loops,
		WriteQueue:    s.opts.WriteQueue,
		WriteTimeout:  s.opts.WriteTimeout,
		Tick:          s.opts.tick(),
		LingerTimeout: s.opts.CloseTimeout,
		AcceptError:   s.acceptFailed,
		OnOverflow:    func() { s.refused(refDescriptors, "") },
	}
	if s.tlsConf == nil { // a TLS client cannot read a plain HTTP answer
		cfg.OverflowAnswer = appendRefusal(nil, refDescriptors, 1)
	}
	var p *poller.Poller
	var err error
	if ln != nil {
		cfg.PauseAtStart = true
		p, err = poller.NewFor[wsConn](ln, cfg, s)
	} else {
		p, err = poller.ListenFor[wsConn](s.opts.Addr, cfg, s)
	}
	if err != nil {
		return err
	}
	p.SetExportSink(&s.ho.sink)
	s.poll = p
	for i := 0; i < p.Config().Loops; i++ {
		s.ups = append(s.ups, newUpgrader(s))
	}
	s.stats = make([]loopStats, p.Config().Loops)
	s.started = time.Now()
	p.Serve()
	go s.sweepRates()
	if s.opts.MemoryTrimAfter > 0 {
		go s.trimMemory()
	}
	return nil
}

// sweepRates drops refilled buckets from the connection-rate table every
// sweepEvery, until Close. (The table stays bounded without it; the sweep
// gives memory back after a flood of distinct addresses.)
func (s *Server) sweepRates() {
	t := time.NewTicker(s.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.adm.Sweep()
		}
	}
}

// Addr is the bound WebSocket address (after Start).
func (s *Server) Addr() net.Addr { return s.poll.Addr() }

// Connections is the number of upgraded WebSocket connections.
func (s *Server) Connections() int { return int(s.open.Load()) }

// Health answers the main port's /health: 200 while serving, 503 in the
// lame duck ("lameduck") and once draining ("draining").
func (s *Server) Health() (status int, body []byte) {
	st, status := s.serving()
	body = append(body, `{"status":"`...)
	body = append(body, st...)
	body = append(body, `","connections":`...)
	body = strconv.AppendInt(body, s.open.Load(), 10)
	body = append(body, `,"sockets":`...)
	sockets := 0
	if s.poll != nil {
		sockets = s.poll.Len()
	}
	body = strconv.AppendInt(body, int64(sockets), 10)
	body = append(body, `,"queued":`...)
	body = strconv.AppendInt(body, int64(s.router.Queued()), 10)
	if s.nats != nil {
		body = append(body, `,"broker":"`...)
		if s.nats.Connected() {
			body = append(body, "connected"...)
		} else {
			body = append(body, "disconnected"...)
		}
		body = append(body, '"')
	}
	body = append(body, `,"goroutines":`...)
	body = strconv.AppendInt(body, int64(runtime.NumGoroutine()), 10)
	body = append(body, `,"uptime_seconds":`...)
	body = strconv.AppendInt(body, int64(time.Since(s.started).Seconds()), 10)
	return status, append(body, "}\n"...)
}

// Shutdown drains the node: it stops accepting, lets the worker queue run
// dry, then closes every connection with 1012 (service restart) after what
// was queued for it, spread over -drain-spread (connections not closed yet
// are served meanwhile), waits for the peers' close frames until ctx ends,
// then closes whatever is left. /health and /ready answer 503 from the first
// moment on.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.poll == nil {
		return nil
	}
	s.draining.Store(true)
	s.poll.StopAccepting()
	// Messages already accepted are handled first, so their replies and
	// publishes go out before the close frames; so are the rpc and presence
	// calls in flight (each bounded by its own timeout).
	for (s.router.Queued() > 0 || s.be.inflight.Load() > 0) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	deadline := time.Now().Add(s.opts.ShutdownTimeout)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	s.closeSpread(ctx, deadline)
	for s.poll.Len() > 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	left := s.poll.Len()
	s.Close()
	if left > 0 {
		return fmt.Errorf("shutdown: %d connections force-closed: %w", left, ctx.Err())
	}
	return nil
}

// Close stops everything at once.
func (s *Server) Close() {
	s.draining.Store(true)
	s.stopOnce.Do(func() { close(s.stop) })
	if s.poll != nil {
		s.poll.Stop()
	}
	s.router.Close()
	s.closeBackend()
	s.id.close()
	if s.nats != nil {
		s.nats.Close()
	}
}

// ReloadTLS re-reads the certificate and key.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return errors.New("TLS is not configured (-tls-cert, -tls-key)")
	}
	return s.certs.load()
}

// loopStats collects a loop's message counts during one read; they go to
// the shared Prometheus counters once per read, not once per message.
type loopStats struct {
	msgsIn, bytesIn, msgsOut, bytesOut uint64
	// permessage-deflate: compressed messages in and out, their bytes on
	// the wire and uncompressed, and the messages deflated.
	zMsgsIn, zBytesIn, zRawIn    uint64
	zMsgsOut, zBytesOut, zRawOut uint64
	zRuns                        uint64
	// inRoom is cap-len of the input being decoded: a payload with as
	// much room after it ends where the input ends, so it is the last
	// frame of the read (lastFrame).
	inRoom int
	_      [32]byte // keep loops off each other's cache lines
}

// flushStats adds what loop counted to the metrics. Loop only.
func (s *Server) flushStats(loop int) {
	st := &s.stats[loop]
	if st.msgsIn != 0 {
		s.m.MessagesReceived.Add(float64(st.msgsIn))
	}
	if st.bytesIn != 0 {
		s.m.BytesReceived.Add(float64(st.bytesIn))
	}
	if st.msgsOut != 0 {
		s.m.MessagesSent.Add(float64(st.msgsOut))
		s.m.BytesSent.Add(float64(st.bytesOut))
	}
	s.zm.flush(st)
	*st = loopStats{}
}

// refused counts and logs (sampled) a refusal.
func (s *Server) refused(r refusal, peer string) {
	s.m.Rejected.WithLabelValues(r.String()).Inc()
	if ok, suppressed := s.sampler.Allow(int(r), time.Now().UnixNano()); ok {
		s.log.Info("connection refused", zap.Stringer("reason", r), zap.String("peer", peer), zap.Uint64("suppressed_since_last", suppressed))
	}
}
