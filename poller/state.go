package poller

import "unsafe"

// A handler's state for each connection lives in the connection's own
// allocation (issue 19): a Poller made with NewFor[T] allocates every
// connection as its Conn followed by a T, so neither needs a pointer to the
// other and a connection is one object, not two. State and ConnOf move
// between the two by a constant offset.

// withState is how a Poller of T allocates a connection: the Conn first,
// the handler's T right after it.
type withState[T any] struct {
	c Conn
	v T
}

// stdWithState is the std backend's allocation: the same two, then the
// backend's own part (stdConn), so that State finds T where it is for the
// other backends and std connections carry their socket without a pointer.
type stdWithState[T any] struct {
	c Conn
	v T
	s stdConn
}

// layout allocates a Poller's connections and finds the std backend's part.
type layout interface {
	newConn() *Conn
	// newConns appends n new connections to dst, each its own allocation:
	// a loop takes the connections it accepts from such runs (newLoop).
	newConns(dst []*Conn, n int) []*Conn
	connSize() uintptr
	newStd() *Conn
	std(c *Conn) *stdConn
}

type layoutOf[T any] struct{}

func (layoutOf[T]) newConn() *Conn { return &new(withState[T]).c }

func (layoutOf[T]) newConns(dst []*Conn, n int) []*Conn {
	for range n {
		dst = append(dst, &new(withState[T]).c)
	}
	return dst
}

func (layoutOf[T]) connSize() uintptr { return unsafe.Sizeof(withState[T]{}) }

func (layoutOf[T]) newStd() *Conn { return &new(stdWithState[T]).c }

func (layoutOf[T]) std(c *Conn) *stdConn {
	return &(*stdWithState[T])(unsafe.Pointer(c)).s
}

// State is the handler's state of c, zero when the connection is accepted
// (or adopted), for the handler to fill in OnOpen (before StartAdopted).
// T must be the type the Poller was made with (NewFor): another type would
// be misread, and the compiler cannot see it (the race detector's pointer
// checks can: a T larger than the Poller's straddles the allocation).
func State[T any](c *Conn) *T { return &(*withState[T])(unsafe.Pointer(c)).v }

// ConnOf is the connection whose state v is: v must come from State.
func ConnOf[T any](v *T) *Conn {
	return (*Conn)(unsafe.Add(unsafe.Pointer(v), -int(unsafe.Offsetof(withState[T]{}.v))))
}
