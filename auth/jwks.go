package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// JWKSMaxBytes bounds a JWKS response; past it the fetch fails and the keys
// held stay. A set of 100 RSA-4096 keys is about 80 KB.
const JWKSMaxBytes = 1 << 20

// jwks holds the keys of a JWKS URL. Lookups read an immutable map through an
// atomic pointer (no lock on the verify path). Fetches are single-flight: at
// most one runs at a time, whoever asks waits for that one; a fetch for an
// unknown kid starts at most once per minInterval, so a flood of random kids
// costs the key server one request per interval. A failed fetch keeps the
// keys held.
type jwks struct {
	url         string
	logURL      string
	client      *http.Client
	timeout     time.Duration
	minInterval time.Duration
	refresh     time.Duration
	log         *zap.Logger

	keys atomic.Pointer[map[string]verifyKey] // nil until the first good fetch

	mu        sync.Mutex
	inflight  chan struct{} // closed when the running fetch ends; nil when none runs
	lastStart time.Time
	now       func() time.Time // Config.Now: tests step it past minInterval
	lastErr   error            // of the last finished fetch

	fetches, failures atomic.Int64

	ctx    context.Context // cancelled by close: ends the refresher and a running fetch
	cancel context.CancelFunc
	done   chan struct{}
}

func newJWKS(c *Config) *jwks {
	ctx, cancel := context.WithCancel(context.Background())
	s := &jwks{
		url: c.JWKSURL, client: c.HTTPClient, timeout: c.JWKSTimeout,
		minInterval: c.JWKSMinInterval, refresh: c.JWKSRefresh, log: c.Log,
		ctx: ctx, cancel: cancel, done: make(chan struct{}), now: c.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: s.timeout}
	}
	if u, err := url.Parse(s.url); err == nil {
		s.logURL = u.Redacted() // a password in the URL stays out of the log
	}
	go s.run()
	return s
}

// lookup returns the key named kid, fetching the set (once, shared, rate
// limited) when it is not held. It waits at most for that fetch, which is
// bounded by the JWKS timeout, or until ctx ends.
func (s *jwks) lookup(ctx context.Context, kid string) (verifyKey, error) {
	if k, ok := s.get(kid); ok {
		return k, nil
	}
	if wait := s.start(false); wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return verifyKey{}, unavailable("waiting for the JWKS", ctx.Err())
		}
		if k, ok := s.get(kid); ok {
			return k, nil
		}
	}
	s.mu.Lock()
	lastErr := s.lastErr
	s.mu.Unlock()
	switch {
	case s.keys.Load() == nil:
		return verifyKey{}, unavailable("no JWKS loaded yet", lastErr)
	case lastErr != nil:
		// The key may be new and the set unreachable: not the client's fault.
		return verifyKey{}, unavailable("kid not in the JWKS held and the last fetch failed", lastErr)
	}
	return verifyKey{}, invalid(fmt.Sprintf("kid %.64q is not in the JWKS", kid), nil)
}

func (s *jwks) get(kid string) (verifyKey, bool) {
	m := s.keys.Load()
	if m == nil {
		return verifyKey{}, false
	}
	k, ok := (*m)[kid]
	return k, ok
}

// start begins a fetch unless one is running (then it returns that one's
// channel) or, unless forced, one started less than minInterval ago (then
// it returns nil).
func (s *jwks) start(force bool) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		return s.inflight
	}
	now := s.now()
	if !force && !s.lastStart.IsZero() && now.Sub(s.lastStart) < s.minInterval {
		return nil
	}
	ch := make(chan struct{})
	s.inflight, s.lastStart = ch, now
	go func() {
		err := s.fetch()
		s.mu.Lock()
		s.inflight, s.lastErr = nil, err
		s.mu.Unlock()
		close(ch)
	}()
	return ch
}

// run fetches at once, then every refresh; after a failure it retries
// sooner (minInterval, doubling up to refresh) so a node that started while
// the key server was down catches up.
func (s *jwks) run() {
	defer close(s.done)
	backoff := max(s.minInterval, time.Second)
	for {
		select {
		case <-s.start(true):
		case <-s.ctx.Done():
			return
		}
		next := s.refresh
		s.mu.Lock()
		failed := s.lastErr != nil
		s.mu.Unlock()
		if failed {
			next, backoff = min(backoff, s.refresh), min(backoff*2, s.refresh)
		} else {
			backoff = max(s.minInterval, time.Second)
		}
		t := time.NewTimer(next)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
	}
}

func (s *jwks) close() {
	s.cancel()
	<-s.done
	s.mu.Lock()
	wait := s.inflight
	s.mu.Unlock()
	if wait != nil {
		<-wait // cancelled with s.ctx: returns promptly
	}
}

// fetch gets and decodes the set, and swaps it in when it holds at least one
// usable key.
func (s *jwks) fetch() error {
	s.fetches.Add(1)
	m, skipped, err := s.download()
	if err != nil {
		s.failures.Add(1)
		s.log.Warn("JWKS fetch failed, keeping the keys held", zap.String("url", s.logURL), zap.Error(err))
		return err
	}
	old := s.keys.Swap(&m)
	if old == nil || !sameKids(*old, m) {
		s.log.Info("JWKS loaded", zap.String("url", s.logURL), zap.Int("keys", len(m)), zap.Int("skipped", skipped))
	}
	return nil
}

func (s *jwks) download() (map[string]verifyKey, int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, JWKSMaxBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the body: %w", err)
	}
	if len(body) > JWKSMaxBytes {
		return nil, 0, fmt.Errorf("body over %d bytes", JWKSMaxBytes)
	}
	return decodeJWKS(body)
}

// decodeJWKS keeps the public signing keys that have a kid and a usable type
// and size; it skips the others (encryption keys, symmetric or private keys,
// short RSA keys, unknown types) and fails only when none is left.
func decodeJWKS(body []byte) (map[string]verifyKey, int, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, 0, fmt.Errorf("not a JWKS: %w", err)
	}
	m := make(map[string]verifyKey, len(doc.Keys))
	skipped := 0
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || k.KeyID == "" || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
			skipped++
			continue
		}
		algs, err := algsFor(k.Key)
		if err != nil {
			skipped++
			continue
		}
		if k.Algorithm != "" {
			if !slices.Contains(algs, k.Algorithm) {
				skipped++
				continue
			}
			algs = []string{k.Algorithm}
		}
		if _, dup := m[k.KeyID]; dup {
			skipped++
			continue
		}
		m[k.KeyID] = verifyKey{key: k.Key, algs: algs}
	}
	if len(m) == 0 {
		return nil, skipped, errors.New("no usable signing key in the JWKS")
	}
	return m, skipped, nil
}

func sameKids(a, b map[string]verifyKey) bool {
	if len(a) != len(b) {
		return false
	}
	for kid := range a {
		if _, ok := b[kid]; !ok {
			return false
		}
	}
	return true
}

// JWKSStats counts the fetches of the key set, for metrics and tests.
type JWKSStats struct {
	Fetches  int64 // started
	Failures int64 // ended without a usable set
	Keys     int   // held now
}
