// Package poller runs the event loops that drive wsedge's sockets. It moves
// bytes and nothing else: what they mean (HTTP, WebSocket frames, TLS
// records) is the business of the layers above.
//
// A Poller owns a listening socket and a small, fixed pool of loops; the
// loop that accepts a connection owns it for its whole life: it reads it,
// runs its timers and closes it. Handler callbacks for one loop never run
// concurrently. Two backends serve the same API (Config.Backend):
//
//   - epoll (Linux, the default there): each loop is one goroutine in
//     epoll_wait on its own epoll instance, every loop also watches the
//     shared listener (EPOLLEXCLUSIVE). An idle connection costs one
//     96-byte Conn (and the handler's state, in the same object), an
//     8-byte slot in the descriptor table, and no goroutine, buffer or
//     timer of its own. Events carry the connection's
//     generation, so an event left over from a closed connection never
//     reaches the one that reuses its descriptor.
//   - std (any OS; -poller std on Linux): the standard library's net.Conn,
//     a reader goroutine per connection that hands its bytes to the owning
//     loop and waits until the loop took them, and a writer goroutine while
//     the socket cannot take what is queued.
//
// Reads go into the loop's shared buffer. The Handler consumes what it can and
// the loop keeps only the unconsumed tail (a partial frame) in its table of
// held input, by connection, grown with what has arrived (never with what a
// header announced), so memory is spent only on connections that are
// mid-frame. A handler keeps its per-connection state in the connection's
// own allocation: a Poller made with NewFor[T] allocates each connection with
// a zero T after it, reached with State[T] (and back with ConnOf), so a
// connection and its state are one object with no pointer between them.
//
// Writes may come from any goroutine, into each Conn's bounded queue:
//
//	Write(b)         a copy of b
//	Write2(a, b)     a copy of a then b in one step (a frame header and its payload)
//	WriteShared(b)   b by reference (a broadcast: the same bytes for every subscriber)
//	WriteFinal(b)    a copy of b as the last bytes: later writes fail with ErrClosed
//	Flush()          hand the queue to the socket now (one writev), never blocking
//	FlushSoon()      let the connection's loop flush it (at most one request pending)
//	CloseAfterFlush  end the connection once the queue is written (FIN, then wait for the peer's)
//	Close(err)       end it now
//
// What the socket does not take waits for it to drain; a connection whose
// unsent bytes pass Config.WriteQueue is closed as a slow consumer, one that
// cannot write for Config.WriteTimeout too, so no writer ever blocks on a
// slow peer. Each connection has at most one task of each kind in its loop's
// list, so a loop's task list is bounded by its connections.
//
// Out of descriptors, an epoll loop answers the clients waiting in the
// backlog with Config.OverflowAnswer through a descriptor held in reserve,
// reports the error (Config.AcceptError) and stops watching the listener for
// 10-320 ms instead of spinning on it; the std backend's acceptor reports
// and backs off the same way (without the reserved answer).
//
// Timers come from one hierarchical timing wheel per loop (package
// timerwheel): a Conn has a single wheel entry that the Handler re-arms to its
// next deadline, while activity (the time of the last read) is a plain field
// checked lazily when the entry fires.
package poller
