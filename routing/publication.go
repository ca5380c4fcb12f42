package routing

import (
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"sync/atomic"

	"github.com/wsedge/wsedge/codec"
)

// Kind says who a Publication is for.
type Kind uint8

const (
	// KindChannel: every subscriber of the channel named by Target.
	KindChannel Kind = 1
	// KindUser: every connection of the user whose id is Target (see Hub.SetIdentity).
	KindUser Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindChannel:
		return "channel"
	case KindUser:
		return "user"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Publication is one server-to-client message on its way to the receivers of a target, on
// this node (Hub.Deliver) and on the others (Cluster.Publish). It is passed by value; its
// Payload is shared and immutable.
type Publication struct {
	Kind    Kind
	Target  string          // the channel name or the user id; immutable
	Payload *codec.Prepared // the client message ({"type":"message",...}), framed once per node
	Exclude ClientID        // a connection that must not get it (the zero value: none)
}

// PublishOptions are the metadata of a publish besides channel and data.
type PublishOptions struct {
	// Exclude is a connection not to deliver to, on whichever node it is (for example the
	// publisher itself).
	Exclude ClientID
}

// Cluster carries this node's publications to the other nodes of a cluster and learns which
// targets this node has receivers for; natsbroker.Broker is one. The Hub is its only caller;
// in the other direction, the cluster hands what other nodes publish to Hub.Deliver.
type Cluster interface {
	// Publish sends p to every other node (never back to this one; the Hub delivers locally
	// itself). It runs on the publishing goroutine, so it must not block on the network. An
	// error means no other node will get p: the Hub then does not deliver it locally either
	// and the publish is answered with the error's *Error code, or UNAVAILABLE.
	Publish(p Publication) error

	// Interest reports that this node gained its first local receiver of target (on) or lost
	// its last one: a channel's first subscriber, a user's first connection. It runs after
	// every routing lock is released, on the goroutine that made the change: a worker for a
	// subscribe (which is acknowledged after Interest returns, so on=true for a channel may
	// wait briefly for the cluster to confirm) or an event loop for a closing connection or an
	// identification (so on=false, and on=true for a user, must not block). Calls for one target may run concurrently and out of order: treat them as hints
	// and read Hub.Receivers for the current state.
	Interest(kind Kind, target string, on bool)
}

// ClientID names a connection uniquely in a cluster: the incarnation of the process that
// serves it (random at start-up) and the session's id, unique within that process. The zero
// value names no connection.
type ClientID struct {
	Node    uint64
	Session uint64
}

// incarnation is this process's random ClientID.Node; sessionIDs numbers sessions across all
// routers of the process, so two routers in one process never share a ClientID.
var (
	incarnation = func() uint64 {
		var b [8]byte
		_, _ = rand.Read(b[:])                      // crypto/rand.Read never fails on supported systems
		return binary.LittleEndian.Uint64(b[:]) | 1 // never zero
	}()
	sessionIDs atomic.Uint64
)

// Incarnation is this process's ClientID.Node.
func Incarnation() uint64 { return incarnation }

// IsZero reports whether id names no connection.
func (id ClientID) IsZero() bool { return id == ClientID{} }

// local reports whether id belongs to this process, and its session id.
func (id ClientID) local() (uint64, bool) {
	return id.Session, id.Node == incarnation && id.Session != 0
}

// String is the client id as clients and backends see it: 16 hex digits of the node, '-',
// the session in hex.
func (id ClientID) String() string { return string(id.Append(make([]byte, 0, 34))) }

// Append appends String() to dst.
func (id ClientID) Append(dst []byte) []byte {
	const hex = "0123456789abcdef"
	for s := 60; s >= 0; s -= 4 {
		dst = append(dst, hex[id.Node>>uint(s)&0xf])
	}
	dst = append(dst, '-')
	return strconv.AppendUint(dst, id.Session, 16)
}

// ParseClientID is the inverse of ClientID.String.
func ParseClientID(s string) (ClientID, bool) {
	if len(s) < 18 || s[16] != '-' {
		return ClientID{}, false
	}
	node, err := strconv.ParseUint(s[:16], 16, 64)
	if err != nil {
		return ClientID{}, false
	}
	sess, err := strconv.ParseUint(s[17:], 16, 64)
	if err != nil || sess == 0 || len(s) > 17+16 {
		return ClientID{}, false
	}
	return ClientID{Node: node, Session: sess}, true
}

// ChannelMessage returns the message subscribers of channel receive for data:
// {"type":"message","channel":CHANNEL,"data":DATA} (data left out when nil), prepared to be
// framed in place, once. channel must be valid (ValidChannel: it never needs JSON escaping)
// and data valid JSON (ValidJSON). It allocates the message and its buffer, once per publish.
func ChannelMessage(channel string, data []byte) *codec.Prepared {
	n := len(msgPrefix) + len(channel) + len(`","data":`) + len(data) + 2
	buf := appendMessage(codec.PreparedBuffer(n), channel, data)
	return codec.NewPreparedRoom(codec.OpText, buf, codec.MaxHeaderSize)
}

// ValidJSON reports whether p is exactly one JSON value (RFC 8259 grammar, nesting at most
// 512 deep; UTF-8 validity is not checked here).
func ValidJSON(p []byte) bool {
	i := skipSpace(p, 0)
	end, err := skipValue(p, i, 0)
	return err == nil && skipSpace(p, end) == len(p)
}
