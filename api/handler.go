package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultMaxBody = 1 << 20
	DefaultTimeout = 5 * time.Second
)

// Config configures the API handler.
type Config struct {
	// Key is the API key: requests carry "Authorization: apikey <Key>".
	// Required unless Keyless.
	Key string
	// Keyless serves without a key, for the admin listener's mount (the
	// admin page calls the API from the operator's browser; that listener
	// is the boundary). Then the handler guards against cross-site
	// requests: a body must be sent as application/json (which a foreign
	// page cannot do without a CORS preflight this handler never grants)
	// and a browser's Origin must be the listener's own host.
	Keyless bool
	// MaxBody bounds a request body in bytes (-api-max-body); past it 413.
	// 0 = DefaultMaxBody.
	MaxBody int64
	// Timeout bounds one call to the Node (-api-timeout); past it 503.
	// 0 = DefaultTimeout.
	Timeout time.Duration
	// ValidChannel checks channel names; nil = DefaultValidChannel.
	ValidChannel func(name string) bool
	// Log gets one line per refused or failed request (nil = none).
	Log *zap.Logger
}

// Handler serves POST /api/<method>. It is safe for concurrent use.
type Handler struct {
	node    Node
	keyHash [sha256.Size]byte
	keyless bool
	maxBody int64
	timeout time.Duration
	valid   func(string) bool
	log     *zap.Logger
	calls   sync.Pool // *call
}

// ErrNoKey is returned when the API would be served without a key.
var ErrNoKey = errors.New("the server API needs a key (-api-key or -api-key-file)")

// NewHandler returns the API handler calling n.
func NewHandler(n Node, c Config) (*Handler, error) {
	if c.Key == "" && !c.Keyless {
		return nil, ErrNoKey
	}
	if c.MaxBody < 0 || c.Timeout < 0 {
		return nil, errors.New("api: negative MaxBody or Timeout")
	}
	h := &Handler{
		node: n, keyHash: sha256.Sum256([]byte(c.Key)), keyless: c.Keyless,
		maxBody: c.MaxBody, timeout: c.Timeout, valid: c.ValidChannel, log: c.Log,
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBody
	}
	if h.timeout == 0 {
		h.timeout = DefaultTimeout
	}
	if h.valid == nil {
		h.valid = DefaultValidChannel
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	h.calls.New = func() any { return &call{} }
	return h, nil
}

// call holds one request's reusable buffers.
type call struct {
	body []byte
	req  request
	out  []byte
}

// keepCap bounds the buffers a pooled call keeps, so that one large body
// does not stay allocated.
const keepCap = 64 << 10

// Shared header values: assigning them allocates nothing (they are never
// modified).
var (
	hdrJSON      = []string{"application/json"}
	hdrNoSniff   = []string{"nosniff"}
	hdrPost      = []string{"POST"}
	hdrClose     = []string{"close"}
	hdrRetry     = []string{"1"}
	hdrChallenge = []string{`apikey realm="wsedge"`}
)

var (
	errUnauthorized = failure{status: http.StatusUnauthorized, code: CodeUnauthorized, message: `missing or wrong API key (send "Authorization: apikey <key>")`}
	errNotPost      = failure{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed, message: "use POST"}
	errTooLarge     = failure{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge}
	errReadBody     = failure{status: http.StatusBadRequest, code: CodeInvalidRequest, message: "could not read the body"}
	errMedia        = failure{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMedia, message: "send the body as Content-Type: application/json"}
	errCrossSite    = failure{status: http.StatusForbidden, code: CodeForbidden, message: "cross-site request refused"}
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The key comes first: without it nothing is read and nothing is told.
	if !h.keyless && !h.authorized(r.Header["Authorization"]) {
		w.Header()["Www-Authenticate"] = hdrChallenge
		h.fail(w, r, "", errUnauthorized)
		return
	}
	name, _ := strings.CutPrefix(r.URL.Path, "/api/")
	m, ok := methodOf(name)
	if !ok {
		h.fail(w, r, "", failure{status: http.StatusNotFound, code: CodeUnknownMethod,
			message: "no API method " + quote(name) + " (publish, broadcast, subscribe, unsubscribe, disconnect, presence, presence_stats, channels, info)"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header()["Allow"] = hdrPost
		h.fail(w, r, name, errNotPost)
		return
	}
	if h.keyless {
		if f := crossSite(r); f != nil {
			h.fail(w, r, name, *f)
			return
		}
	}
	if r.ContentLength > h.maxBody {
		h.tooLarge(w, r, name) // refused on the declared length: nothing read
		return
	}
	c := h.calls.Get().(*call)
	defer h.release(c)
	body, err := readBody(r.Body, c.body, h.maxBody, r.ContentLength)
	c.body = body
	switch {
	case errors.Is(err, errBodyTooLarge):
		h.tooLarge(w, r, name)
		return
	case err != nil:
		h.fail(w, r, name, errReadBody)
		return
	}
	if f := c.req.decode(m, body); f != nil {
		h.fail(w, r, name, *f)
		return
	}
	out, f := h.call(r, m, &c.req, c.out[:0])
	c.out = out
	if f != nil {
		h.fail(w, r, name, *f)
		return
	}
	hd := w.Header()
	hd["Content-Type"] = hdrJSON
	hd["X-Content-Type-Options"] = hdrNoSniff
	w.Write(out)
}

func (h *Handler) release(c *call) {
	if cap(c.body) > keepCap {
		c.body = nil
	}
	if cap(c.out) > keepCap {
		c.out = nil
	}
	if cap(c.req.scratch) > keepCap {
		c.req.scratch = nil
	}
	if cap(c.req.channels) > 64 {
		c.req.channels = nil
	}
	clear(c.req.channels[:cap(c.req.channels)]) // drop the strings
	c.req.data = nil
	h.calls.Put(c)
}

// authorized checks the Authorization header in constant time (over
// SHA-256 digests, so the key's length does not show either).
func (h *Handler) authorized(vals []string) bool {
	if len(vals) != 1 {
		return false
	}
	scheme, key, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "apikey") {
		return false
	}
	got := sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(got[:], h.keyHash[:]) == 1
}

// crossSite refuses what a foreign web page could make a browser send to
// the keyless mount.
func crossSite(r *http.Request) *failure {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &errMedia
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return &errCrossSite
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return &errCrossSite
		}
	}
	return nil
}

var errBodyTooLarge = errors.New("body too large")

// readBody reads the whole body into buf, at most limit bytes: one byte more
// stops the reading (the rest is never read).
func readBody(r io.Reader, buf []byte, limit, length int64) ([]byte, error) {
	buf = buf[:0]
	if length >= 0 && length <= limit && int64(cap(buf)) < length+1 {
		buf = make([]byte, 0, length+1) // +1: the read that sees EOF
	}
	for {
		if len(buf) == cap(buf) {
			n := min(max(2*int64(cap(buf)), 4096), limit+1)
			nb := make([]byte, len(buf), n)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errBodyTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (h *Handler) tooLarge(w http.ResponseWriter, r *http.Request, name string) {
	// Closing the connection spares reading the rest of the body.
	w.Header()["Connection"] = hdrClose
	f := errTooLarge
	f.message = "the body is larger than " + sizeText(h.maxBody) + " (-api-max-body)"
	h.fail(w, r, name, f)
}

// fail writes an error answer and logs it: refusals at info (sampled by the
// process logger), node failures at warn with their cause.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, name string, f failure) {
	hd := w.Header()
	hd["Content-Type"] = hdrJSON
	hd["X-Content-Type-Options"] = hdrNoSniff
	if f.status == http.StatusServiceUnavailable {
		hd["Retry-After"] = hdrRetry
	}
	w.WriteHeader(f.status)
	w.Write(appendError(make([]byte, 0, 128), f))
	fields := []zap.Field{zap.Int("status", f.status), zap.String("code", f.code), zap.String("method", name),
		zap.String("remote", r.RemoteAddr), zap.String("message", f.message)}
	if f.cause != nil {
		h.log.Warn("api call failed", append(fields, zap.Error(f.cause))...)
		return
	}
	h.log.Info("api request refused", fields...)
}
