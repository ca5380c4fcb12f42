// Package poller runs the event loops that drive wsedge's sockets.
//
// A Poller owns a listening socket and a small, fixed pool of loops. Each loop
// is one goroutine blocked in epoll_wait on its own epoll instance; every
// loop also watches the shared listening socket (EPOLLEXCLUSIVE), so the loop
// that accepts a connection owns it for its whole life: it reads it, runs its
// timers and closes it. An idle connection therefore costs one small Conn
// struct and no goroutine, no buffer and no timer of its own.
//
// Reads go into the loop's shared buffer. The Handler consumes what it can and
// the loop keeps only the unconsumed tail (a partial frame) with the
// connection, so memory is spent only on connections that are mid-frame.
//
// Writes may come from any goroutine. Each Conn has a bounded queue of
// outgoing bytes: frames encoded by the caller (copied into a pooled buffer)
// and shared, immutable frames queued by reference (a broadcast encodes once).
// Flush hands everything queued to the kernel with one writev (FlushSoon
// leaves that to the connection's loop, so a broadcast's writes run on every
// loop in parallel); what the socket cannot take waits for EPOLLOUT, and a
// connection whose unsent bytes pass the bound is closed as a slow consumer,
// so no writer ever blocks on a slow peer.
//
// The loops' own socket calls (read, write, accept, a zero-timeout
// epoll_wait) never block, so they bypass the scheduler's syscall hooks; a
// loop enters a blocking epoll_wait only when nothing is ready.
//
// Timers come from one hierarchical timing wheel per loop (package
// timerwheel): a Conn has a single wheel entry that the Handler re-arms to its
// next deadline, while activity (the time of the last read) is a plain field
// checked lazily when the entry fires.
package poller
