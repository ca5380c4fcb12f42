package handover

import (
	"encoding/binary"
	"fmt"
	"time"
)

// A connection's state travels as an opaque []byte the server fills; this
// file offers a format for it that survives version skew between the old
// and the new binary: a version byte, then fields as (tag, length, value).
// A reader skips tags it does not know, so a newer binary can add fields
// and still read an older one's records; a field whose meaning changes gets
// a new tag; a record version the reader does not support is refused (and
// the connection with it: the parent then keeps serving it).
//
//	record = version:byte field*
//	field  = tag:uvarint length:uvarint value:byte[length]
//
// Integers are uvarints (signed ones zig-zag encoded), durations are
// nanoseconds. Timers travel as remaining durations measured when the
// connection was paused; the adopter re-arms them against its own clock.

// Record builds a state record. The zero value is not usable: call
// NewRecord.
type Record struct{ b []byte }

// NewRecord starts a record of the given format version, appending to dst
// (which may be nil).
func NewRecord(dst []byte, version byte) *Record { return &Record{b: append(dst, version)} }

// Bytes adds a field holding b.
func (r *Record) Bytes(tag uint64, b []byte) *Record {
	r.b = binary.AppendUvarint(r.b, tag)
	r.b = appendBytes(r.b, b)
	return r
}

// String adds a field holding s.
func (r *Record) String(tag uint64, s string) *Record {
	r.b = binary.AppendUvarint(r.b, tag)
	r.b = binary.AppendUvarint(r.b, uint64(len(s)))
	r.b = append(r.b, s...)
	return r
}

// Uint adds an unsigned integer field.
func (r *Record) Uint(tag, v uint64) *Record {
	var tmp [binary.MaxVarintLen64]byte
	return r.Bytes(tag, binary.AppendUvarint(tmp[:0], v))
}

// Int adds a signed integer field.
func (r *Record) Int(tag uint64, v int64) *Record {
	var tmp [binary.MaxVarintLen64]byte
	return r.Bytes(tag, binary.AppendVarint(tmp[:0], v))
}

// Duration adds a duration field (a timer's remaining time, an age).
func (r *Record) Duration(tag uint64, d time.Duration) *Record { return r.Int(tag, int64(d)) }

// Bool adds a boolean field.
func (r *Record) Bool(tag uint64, v bool) *Record {
	if v {
		return r.Uint(tag, 1)
	}
	return r.Uint(tag, 0)
}

// Done returns the encoded record.
func (r *Record) Done() []byte { return r.b }

// Field is one decoded field; Value aliases the record.
type Field struct {
	Tag   uint64
	Value []byte
}

// ReadRecord checks a record and returns its version and fields in order.
// It accepts any version; the caller refuses the ones it does not support.
func ReadRecord(b []byte) (version byte, fields []Field, err error) {
	if len(b) == 0 {
		return 0, nil, fmt.Errorf("handover: empty state record")
	}
	version, r := b[0], reader{b: b[1:]}
	for len(r.b) > 0 {
		tag := r.uvarint()
		v := r.bytes()
		if r.bad {
			return 0, nil, fmt.Errorf("handover: state record (version %d) is malformed after %d fields", version, len(fields))
		}
		fields = append(fields, Field{Tag: tag, Value: v})
	}
	return version, fields, nil
}

// Uint decodes an unsigned integer field.
func (f Field) Uint() (uint64, error) {
	v, n := binary.Uvarint(f.Value)
	if n <= 0 || n != len(f.Value) {
		return 0, fmt.Errorf("handover: state field %d is not an unsigned integer", f.Tag)
	}
	return v, nil
}

// Int decodes a signed integer field.
func (f Field) Int() (int64, error) {
	v, n := binary.Varint(f.Value)
	if n <= 0 || n != len(f.Value) {
		return 0, fmt.Errorf("handover: state field %d is not an integer", f.Tag)
	}
	return v, nil
}

// Duration decodes a duration field.
func (f Field) Duration() (time.Duration, error) {
	v, err := f.Int()
	return time.Duration(v), err
}

// Bool decodes a boolean field.
func (f Field) Bool() (bool, error) {
	v, err := f.Uint()
	if err == nil && v > 1 {
		err = fmt.Errorf("handover: state field %d is not a boolean", f.Tag)
	}
	return v == 1, err
}
