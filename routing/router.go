package routing

import (
	"errors"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"
	"go.uber.org/zap"

	"github.com/wsedge/wsedge/codec"
)

// Handler handles one message. It runs on a worker goroutine; c and everything reached through
// it (Channel, Data, ID) are valid only until it returns. A returned *Error becomes an error
// reply with its code; any other non-nil error becomes INTERNAL.
type Handler func(c *Context) error

// Middleware wraps a Handler. Router.Use(a, b) runs a, then b, then the route's handler.
type Middleware func(next Handler) Handler

// Options configure a Router.
type Options struct {
	// Workers is the number of worker goroutines; 0 means 4 x GOMAXPROCS.
	Workers int
	// Queue bounds the messages accepted but not yet handled (queued or running), summed over
	// all sessions. A message that would exceed it is answered OVERLOADED and dropped. 0
	// switches the bound off (as every count limit in DESIGN.md).
	Queue int
	// Hub holds this node's channel subscriptions; nil means NewHub(0).
	Hub *Hub
	// Broker carries publishes to subscribers; nil means Hub itself (in-process channels).
	Broker Broker
	// Logger receives handler failures; nil means no logging.
	Logger *zap.Logger
}

// batch is how many messages of one session a worker handles before it flushes and moves the
// session to the back of the run queue, so a flooding connection cannot starve the others.
const batch = 32

// Router decodes messages, routes them by type through the middleware to their handler and runs
// them on a bounded worker pool. Open, Dispatch and Closed are called by the event loops; Handle
// and Use may be called at any time (routes are swapped atomically).
type Router struct {
	queueCap int64
	queued   atomic.Int64
	nextID   atomic.Uint64
	closed   atomic.Bool

	table atomic.Pointer[table]
	cfgMu sync.Mutex // serializes Handle and Use
	mws   []Middleware

	bufs bytebufferpool.Pool // payload copies and reply buffers
	envs sync.Pool           // *envelope

	reg    Registry
	hub    *Hub
	broker Broker
	log    *zap.Logger
	runq   runQueue
}

type route struct {
	typ string
	h   Handler
}

// table is an immutable snapshot of the routes and the middleware chain.
type table struct {
	routes map[string]*route
	chain  Handler
}

// New returns a Router with its workers running. Call Close to stop them.
func New(opts Options) *Router {
	r := &Router{
		queueCap: int64(max(opts.Queue, 0)),
		hub:      opts.Hub,
		broker:   opts.Broker,
		log:      opts.Logger,
	}
	if r.hub == nil {
		r.hub = NewHub(0)
	}
	if r.broker == nil {
		r.broker = r.hub
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	r.envs.New = func() any { return new(envelope) }
	r.table.Store(&table{routes: map[string]*route{}, chain: final})
	r.runq.init()
	workers := opts.Workers
	if workers <= 0 {
		workers = 4 * runtime.GOMAXPROCS(0)
	}
	r.runq.wg.Add(workers)
	for range workers {
		go r.worker()
	}
	return r
}

// final ends every chain: it runs the route's handler, or answers UNKNOWN_TYPE.
func final(c *Context) error {
	if c.route == nil {
		return errUnknownType
	}
	return c.route.h(c)
}

// Handle registers h for messages whose type is typ, replacing any earlier handler.
func (r *Router) Handle(typ string, h Handler) {
	r.cfgMu.Lock()
	defer r.cfgMu.Unlock()
	old := r.table.Load()
	routes := make(map[string]*route, len(old.routes)+1)
	for k, v := range old.routes {
		routes[k] = v
	}
	routes[typ] = &route{typ: typ, h: h}
	r.table.Store(&table{routes: routes, chain: old.chain})
}

// Use appends middleware; the first one given runs first (outermost).
func (r *Router) Use(mw ...Middleware) {
	r.cfgMu.Lock()
	defer r.cfgMu.Unlock()
	r.mws = append(r.mws, mw...)
	chain := Handler(final)
	for i := len(r.mws) - 1; i >= 0; i-- {
		chain = r.mws[i](chain)
	}
	old := r.table.Load()
	r.table.Store(&table{routes: old.routes, chain: chain})
}

// Registry finds live sessions.
func (r *Router) Registry() *Registry { return &r.reg }

// Hub is this node's channel subscriptions.
func (r *Router) Hub() *Hub { return r.hub }

// Broker carries publishes.
func (r *Router) Broker() Broker { return r.broker }

// Queued is the number of messages waiting for a worker (for metrics).
func (r *Router) Queued() int { return int(r.queued.Load()) }

// Open creates and registers the session of a new connection.
func (r *Router) Open(conn Conn, remote netip.Addr) *Session {
	now := time.Now().UnixNano()
	s := &Session{id: r.nextID.Add(1), remote: remote, connectedAt: now, conn: conn}
	s.lastActive.Store(now)
	r.reg.add(s)
	return s
}

// Closed ends a session: queued messages are dropped, its subscriptions end and it leaves the
// registry. A handler of the session that is running finishes; its writes fail harmlessly.
func (r *Router) Closed(s *Session) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	head, n := s.head, s.pending
	s.head, s.tail, s.pending = nil, nil, 0
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	r.release(head, n)
	r.hub.dropAll(s, subs)
	r.reg.remove(s)
}

// Dispatch takes one complete message of a session. It runs on the event loop and never blocks:
// the payload (valid only during the call) is copied into a pooled buffer and appended to the
// session's mailbox, and the session is scheduled on the pool unless it already is. A binary
// message closes the connection with 1003; a message over the queue bound is answered OVERLOADED
// at once and dropped. After Close, messages are dropped.
func (r *Router) Dispatch(s *Session, op codec.OpCode, payload []byte) {
	if op != codec.OpText {
		s.conn.Close(codec.CloseUnsupportedData, "binary messages are not supported")
		return
	}
	s.Touch()
	if r.closed.Load() {
		return
	}
	if n := r.queued.Add(1); r.queueCap > 0 && n > r.queueCap {
		r.queued.Add(-1)
		r.overloaded(s, payload)
		return
	}
	buf := r.bufs.Get()
	buf.B = append(buf.B, payload...)
	e := r.envs.Get().(*envelope)
	e.buf = buf
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		r.release(e, 1)
		return
	}
	if s.tail == nil {
		s.head = e
	} else {
		s.tail.next = e
	}
	s.tail = e
	s.pending++
	schedule := !s.scheduled
	s.scheduled = true
	s.mu.Unlock()
	if schedule && !r.runq.push(s) {
		r.dropMailbox(s)
	}
}

// overloaded answers OVERLOADED from the loop goroutine, echoing the id if the message has one.
func (r *Router) overloaded(s *Session, payload []byte) {
	var m Message
	_ = m.Decode(payload) // only for the id; a broken message still gets OVERLOADED
	buf := r.bufs.Get()
	buf.B = AppendError(buf.B, m.ID, CodeOverloaded, errOverloaded.Message)
	if s.conn.WriteMessage(codec.OpText, buf.B) == nil {
		_ = s.conn.Flush()
	}
	r.bufs.Put(buf)
}

// release returns a chain of n envelopes to the pools and un-counts them.
func (r *Router) release(e *envelope, n int) {
	for e != nil {
		next := e.next
		r.bufs.Put(e.buf)
		*e = envelope{}
		r.envs.Put(e)
		e = next
	}
	if n > 0 {
		r.queued.Add(-int64(n))
	}
}

func (r *Router) dropMailbox(s *Session) {
	s.mu.Lock()
	head, n := s.head, s.pending
	s.head, s.tail, s.pending = nil, nil, 0
	s.scheduled = false
	s.mu.Unlock()
	r.release(head, n)
}

// Close stops the pool: it waits for running handlers to return, then drops queued messages.
// Sessions stay registered; the server closes their connections.
func (r *Router) Close() {
	if !r.closed.CompareAndSwap(false, true) {
		return
	}
	for _, s := range r.runq.close() {
		r.dropMailbox(s)
	}
}

func (r *Router) worker() {
	defer r.runq.wg.Done()
	c := &Context{r: r}
	for {
		s := r.runq.pop()
		if s == nil {
			return
		}
		r.drain(c, s)
	}
}

// drain handles a session's pending messages in order, then flushes its replies with one Flush.
func (r *Router) drain(c *Context, s *Session) {
	c.sess, c.wrote = s, false
	for n := 0; ; n++ {
		if r.closed.Load() {
			r.dropMailbox(s)
			break
		}
		s.mu.Lock()
		e := s.head
		if e == nil {
			s.scheduled = false
			s.mu.Unlock()
			break
		}
		if n == batch {
			s.mu.Unlock() // still scheduled: requeue behind the others
			if c.wrote {
				_ = s.conn.Flush()
			}
			if !r.runq.push(s) {
				r.dropMailbox(s)
			}
			c.sess = nil
			return
		}
		s.head = e.next
		if s.head == nil {
			s.tail = nil
		}
		s.pending--
		s.mu.Unlock()
		e.next = nil
		r.handle(c, e.buf.B)
		r.release(e, 1)
	}
	if c.wrote {
		_ = s.conn.Flush()
	}
	c.sess = nil
}

// handle decodes and routes one message. Decode errors are answered directly, without the
// middleware: there is no type to route or log by.
func (r *Router) handle(c *Context, p []byte) {
	c.reset()
	if err := c.msg.Decode(p); err != nil {
		_ = c.Error(err.Code, err.Message)
		return
	}
	t := r.table.Load()
	c.route = t.routes[string(c.msg.Type)]
	if err := t.chain(c); err != nil {
		r.replyErr(c, err)
	}
}

// replyErr answers a handler's error: its *Error code, or INTERNAL for anything else.
func (r *Router) replyErr(c *Context, err error) {
	e, ok := err.(*Error)
	if !ok && !errors.As(err, &e) {
		r.log.Error("handler failed", zap.Uint64("session", c.sess.id), zap.String("type", c.Type()), zap.Error(err))
		e = errInternal
	}
	_ = c.Error(e.Code, e.text())
}
