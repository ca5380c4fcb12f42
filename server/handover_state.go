package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/handover"
	"github.com/wsedge/wsedge/poller"
	"github.com/wsedge/wsedge/routing"
)

// The state record of a connection handed to a new process (the restart
// without reconnects, docs/design.md): everything the successor needs to
// serve it on from where this process stopped. It is a handover.Record:
// a version byte, then tagged fields a reader skips when it does not know
// them, so a newer binary adds fields without breaking an older one. A tag
// keeps its meaning forever; a field whose meaning changes gets a new tag.
// Times travel as durations (the two processes' clocks are unrelated): a
// timer as what it had left, a timestamp as its age.

// recordVersion is the format this build writes and the only one it reads.
const recordVersion = 1

// Record tags (never reuse or renumber one).
const (
	tagState      = 1  // connState: stHandshake or stOpen
	tagEndpoint   = 2  // endpoint
	tagUpgraded   = 3  // bool
	tagFlags      = 4  // identity flags (fFirst, fNeedID)
	tagRemote     = 5  // peer address, "ip:port"
	tagTicket     = 6  // bool: it held admission slots (re-counted by the successor)
	tagSince      = 7  // age of since (handshake start or partial frame start)
	tagMsgAt      = 8  // age of the fragmented message's start
	tagPingAt     = 9  // age of the unanswered ping
	tagInput      = 10 // unconsumed input: a partial frame or HTTP head
	tagTimer      = 11 // time left on the connection's timer
	tagIdle       = 12 // time since the last read
	tagZBits      = 13 // server window bits of permessage-deflate, absent without it
	tagPeerNoCtx  = 14 // bool: the client compresses without context takeover
	tagPeerBits   = 15 // the client's window bits
	tagDecDone    = 16 // decoder: bytes of the partial frame already unmasked
	tagDecMsg     = 17 // decoder: opcode of the fragmented message in progress
	tagDecAsm     = 18 // decoder: that message's payload so far
	tagDecZ       = 19 // decoder: bool, that message is compressed
	tagDecUTF8    = 20 // decoder: UTF-8 validator state
	tagDecStopped = 21 // decoder: bool
	tagDecWindow  = 22 // decoder: the client's LZ77 window (context takeover)
	tagSession    = 23 // bool: the connection has a router session (/ws)
	tagClientIP   = 24 // the address the session is attributed to (a proxied client's)
	tagConnected  = 25 // session: unix nanoseconds of the upgrade
	tagUser       = 26 // session: user id
	tagInfo       = 27 // session: info JSON
	tagExpires    = 28 // session: unix seconds the identity ends, 0 never
	tagChannel    = 29 // session: one subscribed channel (repeated)
	tagHeaders    = 30 // session: the kept request headers, as JSON
)

// connRecord is a connection's state, decoded.
type connRecord struct {
	state    connState
	ep       endpoint
	upgraded bool
	flags    uint8
	remote   netip.AddrPort
	ticket   bool
	// Ages (0: the timestamp is not set).
	since, msgAt, pingAt time.Duration
	input                []byte
	timer, idle          time.Duration
	zbits                uint8
	dec                  codec.DecoderState
	sess                 *routing.SessionState // nil: no session
	client               netip.Addr
	headers              []byte
}

// errRecord wraps every reason a record is refused.
var errRecord = errors.New("connection state record")

func age(now, at int64) time.Duration {
	if at == 0 {
		return 0
	}
	return max(time.Duration(now-at), 1)
}

// appendRecord encodes r.
func appendRecord(dst []byte, r *connRecord) []byte {
	rec := handover.NewRecord(dst, recordVersion).
		Uint(tagState, uint64(r.state)).
		Uint(tagEndpoint, uint64(r.ep)).
		Bool(tagUpgraded, r.upgraded).
		Uint(tagFlags, uint64(r.flags)).
		String(tagRemote, r.remote.String()).
		Bool(tagTicket, r.ticket)
	for _, f := range []struct {
		tag uint64
		d   time.Duration
	}{{tagSince, r.since}, {tagMsgAt, r.msgAt}, {tagPingAt, r.pingAt}, {tagTimer, r.timer}, {tagIdle, r.idle}} {
		if f.d != 0 {
			rec.Duration(f.tag, f.d)
		}
	}
	if len(r.input) > 0 {
		rec.Bytes(tagInput, r.input)
	}
	if r.zbits != 0 {
		rec.Uint(tagZBits, uint64(r.zbits)).Bool(tagPeerNoCtx, r.dec.PeerNoContext).Uint(tagPeerBits, uint64(r.dec.PeerWindowBits))
	}
	d := &r.dec
	rec.Uint(tagDecDone, uint64(d.Done)).Uint(tagDecMsg, uint64(d.Message)).Bool(tagDecZ, d.Compressed).
		Uint(tagDecUTF8, uint64(d.UTF8)).Bool(tagDecStopped, d.Stopped)
	if d.Message != 0 {
		rec.Bytes(tagDecAsm, d.Assembled)
	}
	if d.Window != nil {
		rec.Bytes(tagDecWindow, d.Window)
	}
	if s := r.sess; s != nil {
		rec.Bool(tagSession, true).String(tagClientIP, r.client.String()).Int(tagConnected, s.ConnectedAt).
			String(tagUser, s.User).Int(tagExpires, s.Expires)
		if s.Info != nil {
			rec.Bytes(tagInfo, s.Info)
		}
		for _, ch := range s.Channels {
			rec.String(tagChannel, ch)
		}
		if r.headers != nil {
			rec.Bytes(tagHeaders, r.headers)
		}
	}
	return rec.Done()
}

// readRecord decodes and checks a record. Its slices alias b.
func readRecord(b []byte) (*connRecord, error) {
	v, fields, err := handover.ReadRecord(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRecord, err)
	}
	if v != recordVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", errRecord, v, recordVersion)
	}
	r := &connRecord{}
	var seen uint64 // bits of the single-valued tags read, to refuse repeats
	var sess routing.SessionState
	hasSess := false
	for _, f := range fields {
		if f.Tag < 64 && f.Tag != tagChannel {
			if seen&(1<<f.Tag) != 0 {
				return nil, fmt.Errorf("%w: field %d repeated", errRecord, f.Tag)
			}
			seen |= 1 << f.Tag
		}
		if err := r.field(f, &sess, &hasSess); err != nil {
			return nil, fmt.Errorf("%w: field %d: %w", errRecord, f.Tag, err)
		}
	}
	if seen&(1<<tagState|1<<tagEndpoint|1<<tagRemote) != 1<<tagState|1<<tagEndpoint|1<<tagRemote {
		return nil, fmt.Errorf("%w: state, endpoint or peer missing", errRecord)
	}
	if hasSess {
		r.sess = &sess
	}
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", errRecord, err)
	}
	return r, nil
}

// field decodes one field into r (and sess). Unknown tags are skipped.
func (r *connRecord) field(f handover.Field, sess *routing.SessionState, hasSess *bool) error {
	small := func(max uint64) (uint64, error) {
		v, err := f.Uint()
		if err == nil && v > max {
			err = fmt.Errorf("value %d out of range", v)
		}
		return v, err
	}
	dur := func(dst *time.Duration) error {
		d, err := f.Duration()
		if err == nil && d < 0 {
			err = errors.New("negative duration")
		}
		*dst = d
		return err
	}
	addr := func() (netip.Addr, error) { return netip.ParseAddr(string(f.Value)) }
	var err error
	var v uint64
	switch f.Tag {
	case tagState:
		v, err = small(uint64(stDone))
		r.state = connState(v)
	case tagEndpoint:
		v, err = small(uint64(epKeptAlive))
		r.ep = endpoint(v)
	case tagUpgraded:
		r.upgraded, err = f.Bool()
	case tagFlags:
		v, err = small(0xff)
		r.flags = uint8(v)
	case tagRemote:
		r.remote, err = netip.ParseAddrPort(string(f.Value))
	case tagTicket:
		r.ticket, err = f.Bool()
	case tagSince:
		err = dur(&r.since)
	case tagMsgAt:
		err = dur(&r.msgAt)
	case tagPingAt:
		err = dur(&r.pingAt)
	case tagTimer:
		err = dur(&r.timer)
	case tagIdle:
		err = dur(&r.idle)
	case tagInput:
		r.input = f.Value
	case tagZBits:
		v, err = small(15)
		r.zbits = uint8(v)
	case tagPeerNoCtx:
		r.dec.PeerNoContext, err = f.Bool()
	case tagPeerBits:
		v, err = small(15)
		r.dec.PeerWindowBits = uint8(v)
	case tagDecDone:
		v, err = small(1<<31 - 1)
		r.dec.Done = int(v)
	case tagDecMsg:
		v, err = small(0xf)
		r.dec.Message = codec.OpCode(v)
	case tagDecAsm:
		r.dec.Assembled = f.Value
	case tagDecZ:
		r.dec.Compressed, err = f.Bool()
	case tagDecUTF8:
		v, err = small(0xff)
		r.dec.UTF8 = uint8(v)
	case tagDecStopped:
		r.dec.Stopped, err = f.Bool()
	case tagDecWindow:
		r.dec.Window = f.Value
	case tagSession:
		*hasSess, err = f.Bool()
	case tagClientIP:
		r.client, err = addr()
	case tagConnected:
		sess.ConnectedAt, err = f.Int()
	case tagUser:
		sess.User = string(f.Value)
	case tagInfo:
		sess.Info = f.Value
	case tagExpires:
		sess.Expires, err = f.Int()
	case tagChannel:
		sess.Channels = append(sess.Channels, string(f.Value))
	case tagHeaders:
		r.headers = f.Value
	}
	return err
}

// check refuses combinations this build cannot serve.
func (r *connRecord) check() error {
	switch {
	case r.state != stHandshake && r.state != stOpen:
		return fmt.Errorf("connection state %d does not move", r.state)
	case r.flags&fHold != 0:
		return errors.New("an identity check in flight does not move")
	case r.zbits != 0 && r.zbits < 8:
		return fmt.Errorf("deflate window bits %d", r.zbits)
	case r.zbits == 0 && r.dec.PeerWindowBits != 0:
		return errors.New("client deflate window without the extension")
	case r.sess != nil && (r.state != stOpen || r.ep != epWS):
		return errors.New("a session on a connection that is not an open /ws")
	case r.sess != nil && !r.client.IsValid():
		return errors.New("session without its client address")
	case r.headers != nil && !json.Valid(r.headers):
		return errors.New("kept headers are not JSON")
	}
	return nil
}

// captureRecord fills a record of w, paused by Export with d, and its
// session state st (nil without a session). Loop only.
func (w *wsConn) captureRecord(d *poller.Detached, st *routing.SessionState) *connRecord {
	now := w.conn().Now()
	r := &connRecord{
		state: w.state, ep: w.ep, upgraded: w.upgraded(), flags: w.flags, remote: d.Remote,
		ticket: w.ticket.Held(),
		msgAt:  age(now, w.msgAt()), input: d.Input, timer: d.Timer, idle: d.Idle,
		zbits: w.zbits(), dec: w.dec.State(), sess: st,
	}
	if w.state == stHandshake {
		r.since = age(now, w.accepted())
	} else {
		r.since, r.pingAt = age(now, when(w.since, now)), age(now, when(w.pingAt, now))
	}
	if w.sess != nil {
		r.client = w.sess.RemoteIP()
		if h, ok := w.sess.Get(keptHeadersKey); ok {
			if hh, ok := h.(http.Header); ok {
				r.headers, _ = json.Marshal(hh)
			}
		}
	}
	return r
}
