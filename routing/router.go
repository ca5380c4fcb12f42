package routing

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"
	"go.uber.org/zap"
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
	// switches the bound off.
	Queue int
	// PerConn is one session's fair share of Queue. While at least half of Queue is in use, a
	// session that holds PerConn messages is answered OVERLOADED for the next ones, while
	// others go on being served; on a quieter node a session may pipeline deeper. So a
	// connection with fewer than PerConn messages in flight is refused only once the node
	// holds Queue messages, which takes at least Queue/(2*PerConn) other connections each
	// holding their share. 0 switches the share off; with Queue 0 it is a plain per-session
	// bound.
	PerConn int
	// NoteBytes bounds, per session, the error replies (OVERLOADED, RATE_LIMITED) waiting in
	// its mailbox behind replies still to come: they wait there to keep the order. Past it
	// the connection is closed with 1008 once its accepted messages are answered. The server
	// sets it to -write-queue, the bound those replies would meet in the write queue anyway.
	// 0 means no bound.
	NoteBytes int
	// Hub holds this node's subscriptions and users and reaches the cluster; nil means
	// NewHub(0), channels in this process only.
	Hub *Hub
	// Logger receives handler failures; nil means no logging.
	Logger *zap.Logger
}

// batch is how many messages of one session a worker handles before it flushes and moves the
// session to the back of the run queue, so a flooding connection cannot starve the others.
const batch = 32

// Router decodes messages, routes them by type through the middleware to their handler and runs
// them on a bounded worker pool. Open, Dispatch, Refuse, CloseAfterReplies and Closed are
// called by the event loops; Handle and Use may be called at any time (routes are swapped
// atomically).
type Router struct {
	queueCap  int64
	perConn   int32
	noteBytes int
	queued    atomic.Int64
	closed    atomic.Bool

	table atomic.Pointer[table]
	cfgMu sync.Mutex // serializes Handle and Use
	mws   []Middleware

	bufs bytebufferpool.Pool // payload copies and reply buffers
	envs sync.Pool           // *envelope

	reg  Registry
	hub  *Hub
	log  *zap.Logger
	runq runQueue
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
		queueCap:  int64(max(opts.Queue, 0)),
		perConn:   int32(min(max(opts.PerConn, 0), 1<<30)),
		noteBytes: max(opts.NoteBytes, 0),
		hub:       opts.Hub,
		log:       opts.Logger,
	}
	if r.hub == nil {
		r.hub = NewHub(0)
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

// Hub is this node's channels and users.
func (r *Router) Hub() *Hub { return r.hub }

// Queued is the number of messages accepted and not yet handled (for metrics).
func (r *Router) Queued() int { return int(r.queued.Load()) }

// Open creates and registers the session of a new connection.
func (r *Router) Open(conn Conn) *Session {
	now := time.Now().UnixNano()
	s := &Session{id: sessionIDs.Add(1), connectedAt: now, conn: conn}
	r.reg.add(s)
	return s
}

// Closed ends a session: queued messages are dropped, its subscriptions and its place in the
// user index end and it leaves the registry. A handler of the session that is running
// finishes; its writes fail harmlessly.
func (r *Router) Closed(s *Session) { r.end(s, true) }

// end is Closed; leave says whether its subscribers get leave events (not
// when another process serves the connection now: Forget).
func (r *Router) end(s *Session, leave bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.dropDeferred()
	head, _ := s.takeMailbox()
	s.mu.Unlock()
	r.release(head)
	r.hub.drop(s, leave)
	r.hub.dropUser(s)
	r.reg.remove(s)
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
		if d := c.deferred; d != nil {
			// The handler deferred its reply and then failed: the error is that reply.
			r.replyDeferredErr(c, d, err)
			return
		}
		r.replyErr(c, err)
	}
}

// replyDeferredErr answers a deferred reply with a handler's error, as replyErr would.
func (r *Router) replyDeferredErr(c *Context, d *Deferred, err error) {
	if errors.Is(err, ErrConnClosed) {
		_ = d.Send(nil) // nothing to say; it only releases the replies waiting behind d
		return
	}
	e, ok := err.(*Error)
	if !ok && !errors.As(err, &e) {
		r.log.Error("handler failed", zap.Uint64("session", c.sess.id), zap.String("type", c.Type()), zap.Error(err))
		e = errInternal
	}
	_ = d.Error(e.Code, e.text())
}

// replyErr answers a handler's error: its *Error code, or INTERNAL for anything else. A reply
// that failed because the connection is gone needs no answer and is no server error.
func (r *Router) replyErr(c *Context, err error) {
	if err == ErrConnClosed || errors.Is(err, ErrConnClosed) {
		return
	}
	e, ok := err.(*Error)
	if !ok && !errors.As(err, &e) {
		r.log.Error("handler failed", zap.Uint64("session", c.sess.id), zap.String("type", c.Type()), zap.Error(err))
		e = errInternal
	}
	_ = c.Error(e.Code, e.text())
}
