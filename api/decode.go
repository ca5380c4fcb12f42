package api

import (
	"net/http"
	"strconv"
	"unicode/utf8"
)

// The request decoder reads the one flat JSON object every method takes
// without reflection: a publish is decoded with one allocation (the channel
// name), its data kept as the raw bytes of the body (BenchmarkDecode
// compares it with encoding/json). The JSON scanner is in scan.go.

// method is an /api/ method.
type method uint8

const (
	mPublish method = iota
	mBroadcast
	mSubscribe
	mUnsubscribe
	mDisconnect
	mPresence
	mPresenceStats
	mChannels
	mInfo
	numMethods
)

var methodNames = [numMethods]string{"publish", "broadcast", "subscribe", "unsubscribe", "disconnect", "presence", "presence_stats", "channels", "info"}

// methodOf maps the path after /api/ to a method.
func methodOf(name string) (method, bool) {
	for m, n := range methodNames {
		if n == name {
			return method(m), true
		}
	}
	return 0, false
}

func (m method) String() string { return methodNames[m] }

// field is a bit per request field.
type field uint8

const (
	fChannel field = 1 << iota
	fChannels
	fData
	fUser
	fCode
	fReason
	fPattern
)

var fieldNames = []string{"channel", "channels", "data", "user", "code", "reason", "pattern"}

func fieldOf(key []byte) field {
	for i, n := range fieldNames {
		if string(key) == n {
			return 1 << i
		}
	}
	return 0
}

func (f field) name() string {
	for i, n := range fieldNames {
		if f == 1<<i {
			return n
		}
	}
	return "?"
}

// takes and needs list each method's fields and its required ones.
var (
	takes = [numMethods]field{
		mPublish:       fChannel | fData,
		mBroadcast:     fChannels | fData,
		mSubscribe:     fUser | fChannel,
		mUnsubscribe:   fUser | fChannel,
		mDisconnect:    fUser | fCode | fReason,
		mPresence:      fChannel,
		mPresenceStats: fChannel,
		mChannels:      fPattern,
		mInfo:          0,
	}
	needs = [numMethods]field{
		mPublish:       fChannel | fData,
		mBroadcast:     fChannels | fData,
		mSubscribe:     fUser | fChannel,
		mUnsubscribe:   fUser | fChannel,
		mDisconnect:    fUser,
		mPresence:      fChannel,
		mPresenceStats: fChannel,
	}
	// takesText is the list of fields in "unknown field" answers.
	takesText = [numMethods]string{
		mPublish: "channel and data", mBroadcast: "channels and data",
		mSubscribe: "user and channel", mUnsubscribe: "user and channel",
		mDisconnect: "user, and optionally code and reason", mPresence: "channel",
		mPresenceStats: "channel", mChannels: "optionally pattern", mInfo: "no fields",
	}
)

// request is a decoded request body. Strings are copies; data aliases the
// body. A request is reused: decode resets it.
type request struct {
	given    field // fields present, null or not
	seen     field // fields with a value
	channel  string
	channels []string
	data     []byte
	user     string
	code     int
	reason   string
	pattern  string
	scratch  []byte // room to unescape one string (copied out at once)
}

// invalidJSON is the 400 for a body that is not one JSON object.
func invalidJSON(msg string) *failure {
	return &failure{status: http.StatusBadRequest, code: CodeInvalidJSON, message: msg}
}

func invalidRequest(msg string) *failure {
	return &failure{status: http.StatusBadRequest, code: CodeInvalidRequest, message: msg}
}

// decode reads body as the request of method m. An empty body counts as {}.
// Fields whose value is null count as absent. Unknown and repeated fields
// are refused (a typo must not silently drop a field).
func (r *request) decode(m method, body []byte) *failure {
	*r = request{channels: r.channels[:0], scratch: r.scratch[:0]}
	if !utf8.Valid(body) {
		return invalidJSON("the body is not valid UTF-8")
	}
	i := skipSpace(body, 0)
	if i == len(body) {
		return r.complete(m)
	}
	if body[i] != '{' {
		end, err := skipValue(body, i, 0)
		if err != "" {
			return invalidJSON(err)
		}
		if skipSpace(body, end) != len(body) {
			return invalidJSON("more than one JSON value in the body")
		}
		return invalidJSON("the body must be a JSON object")
	}
	// One pass: a field problem is kept while the rest is still checked,
	// so that a malformed body is always INVALID_JSON whatever comes first.
	var fail *failure
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			if i >= len(body) {
				return invalidJSON("unexpected end of the body")
			}
			if body[i] != '"' {
				return invalidJSON("expected a field name at byte " + strconv.Itoa(i))
			}
			ke, kesc, err := scanString(body, i)
			if err != "" {
				return invalidJSON(err)
			}
			key := body[i+1 : ke-1]
			i = skipSpace(body, ke)
			if i >= len(body) || body[i] != ':' {
				return invalidJSON("expected ':' at byte " + strconv.Itoa(i))
			}
			i = skipSpace(body, i+1)
			ve, err := skipValue(body, i, 1)
			if err != "" {
				return invalidJSON(err)
			}
			if fail == nil {
				if kesc {
					r.scratch = unescape(r.scratch[:0], key)
					key = r.scratch
				}
				fail = r.field(m, key, body[i:ve])
			}
			i = skipSpace(body, ve)
			if i < len(body) && body[i] == ',' {
				i = skipSpace(body, i+1)
				continue
			}
			if i < len(body) && body[i] == '}' {
				i++
				break
			}
			if i >= len(body) {
				return invalidJSON("unexpected end of the body")
			}
			return invalidJSON("expected ',' or '}' at byte " + strconv.Itoa(i))
		}
	}
	if skipSpace(body, i) != len(body) {
		return invalidJSON("more than one JSON value in the body")
	}
	if fail != nil {
		return fail
	}
	return r.complete(m)
}

// field takes one field of method m.
func (r *request) field(m method, key, v []byte) *failure {
	f := fieldOf(key)
	if f&takes[m] == 0 {
		return invalidRequest("unknown field " + strconv.Quote(string(key)) + ": " + m.String() + " takes " + takesText[m])
	}
	if r.given&f != 0 {
		return invalidRequest("field " + strconv.Quote(f.name()) + " appears twice")
	}
	r.given |= f
	if isNull(v) && f != fData {
		return nil // null counts as absent; data: null is a value to publish
	}
	r.seen |= f
	return r.set(f, v)
}

// complete checks the required fields once all are read.
func (r *request) complete(m method) *failure {
	if miss := needs[m] &^ r.seen; miss != 0 {
		for f := field(1); f != 0; f <<= 1 {
			if miss&f != 0 {
				return invalidRequest(strconv.Quote(f.name()) + " is required")
			}
		}
	}
	return nil
}

// set stores one field's value v (a whole, well-formed JSON value).
func (r *request) set(f field, v []byte) *failure {
	switch f {
	case fData:
		r.data = v
		return nil
	case fCode:
		n, ok := wholeNumber(v)
		if !ok {
			return invalidRequest(`"code" must be a whole number`)
		}
		r.code = n
		return nil
	case fChannels:
		return r.setChannels(v)
	}
	s, ok := r.str(v)
	if !ok {
		return invalidRequest(strconv.Quote(f.name()) + " must be a string")
	}
	switch f {
	case fChannel:
		r.channel = s
	case fUser:
		r.user = s
	case fReason:
		r.reason = s
	case fPattern:
		r.pattern = s
	}
	return nil
}

// setChannels reads an array of strings.
func (r *request) setChannels(v []byte) *failure {
	if v[0] != '[' {
		return invalidRequest(`"channels" must be an array of strings`)
	}
	i := skipSpace(v, 1)
	if v[i] == ']' {
		return nil
	}
	for {
		e, _ := skipValue(v, i, 0)
		s, ok := r.str(v[i:e])
		if !ok {
			return invalidRequest(`"channels" must be an array of strings`)
		}
		if len(r.channels) == MaxBroadcast {
			return invalidRequest("more than " + strconv.Itoa(MaxBroadcast) + " channels")
		}
		r.channels = append(r.channels, s)
		i = skipSpace(v, e)
		if v[i] == ']' {
			return nil
		}
		i = skipSpace(v, i+1)
	}
}

// str returns the value of a JSON string token, or false for another value.
func (r *request) str(v []byte) (string, bool) {
	if v[0] != '"' {
		return "", false
	}
	s := v[1 : len(v)-1]
	for _, c := range s {
		if c == '\\' {
			r.scratch = unescape(r.scratch[:0], s)
			return string(r.scratch), true
		}
	}
	return string(s), true
}

// wholeNumber reads a JSON number without fraction or exponent that fits
// an int32 (close codes and the like).
func wholeNumber(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 11 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 32)
	return int(n), err == nil && (v[0] == '-' || v[0] >= '0' && v[0] <= '9')
}

func isNull(v []byte) bool { return string(v) == "null" }
