package tlsrecord

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/testcert"
)

// serverConfig is a TLS config for 127.0.0.1 and the files and pool of its
// certificate.
func serverConfig(t testing.TB) (*tls.Config, *tlsFiles) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, pool := testcert.Write(t, dir, 1)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		&tlsFiles{cert: certFile, key: keyFile, pool: pool}
}

type tlsFiles struct {
	cert, key string
	pool      *x509.CertPool
}

// echoResult is what one server connection saw.
type echoResult struct {
	received    []byte
	switched    bool
	ticketSeq   uint64 // write sequence number at the switch
	drops       int    // times Idle left the connection with no cipher state
	keyUpdates  int    // KeyUpdates the peer asked us for and we sent
	err         error
	switchError error
}

// echoServer accepts one connection per expected result on ln, runs the
// handshake in crypto/tls and then echoes every byte back, after sending
// greeting. With useRecord the connection switches to this package after the
// handshake; quiet is how often the loop calls Idle while no data comes.
func echoServer(t testing.TB, ln net.Listener, acc *Acceptor, base *tls.Config, useRecord bool, greeting []byte, quiet time.Duration) <-chan echoResult {
	res := make(chan echoResult, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			res <- echoResult{err: err}
			return
		}
		defer raw.Close()
		var r echoResult
		if useRecord {
			r = serveRecord(raw, acc, greeting, quiet)
		} else {
			r = serveCryptoTLS(raw, base, greeting)
		}
		res <- r
	}()
	return res
}

func serveCryptoTLS(raw net.Conn, base *tls.Config, greeting []byte) echoResult {
	var r echoResult
	tc := tls.Server(raw, base)
	if _, err := tc.Write(greeting); err != nil {
		r.err = err
		return r
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := tc.Read(buf)
		r.received = append(r.received, buf[:n]...)
		if n > 0 {
			if _, werr := tc.Write(buf[:n]); werr != nil {
				r.err = werr
				return r
			}
		}
		if err == io.EOF {
			tc.Close()
			return r
		}
		if err != nil {
			r.err = err
			return r
		}
	}
}

func serveRecord(raw net.Conn, acc *Acceptor, greeting []byte, quiet time.Duration) echoResult {
	var r echoResult
	hs := acc.Server(raw)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := hs.TLS().HandshakeContext(ctx)
	cancel()
	if err != nil {
		r.err = err
		return r
	}
	rec, err := hs.Switch()
	if err != nil {
		// Stays on crypto/tls: serve it that way.
		r.switchError = err
		tc := hs.TLS()
		if _, err := tc.Write(greeting); err != nil {
			r.err = err
			return r
		}
		buf := make([]byte, 32<<10)
		for {
			n, err := tc.Read(buf)
			r.received = append(r.received, buf[:n]...)
			tc.Write(buf[:n])
			if err != nil {
				if err != io.EOF {
					r.err = err
				}
				tc.Close()
				return r
			}
		}
	}
	r.switched, r.ticketSeq = true, rec.out.seq
	hs = nil // nothing of the handshake is needed any more
	out, err := rec.Seal(nil, greeting)
	if err == nil {
		_, err = raw.Write(out)
	}
	if err != nil {
		r.err = err
		return r
	}
	var pending []byte
	tmp := make([]byte, 32<<10)
	for {
		if quiet > 0 {
			raw.SetReadDeadline(time.Now().Add(quiet))
		}
		n, rerr := raw.Read(tmp)
		if ne, ok := rerr.(net.Error); ok && ne.Timeout() {
			rec.Idle()
			if rec.in.k == nil && rec.out.k == nil {
				r.drops++
			}
			continue
		}
		pending = append(pending, tmp[:n]...)
		pn, consumed, oerr := rec.Open(pending)
		r.received = append(r.received, pending[:pn]...)
		wasPending := rec.Pending()
		out, serr := rec.Seal(nil, pending[:pn])
		if serr == nil && wasPending {
			r.keyUpdates++
		}
		if serr == nil && rec.Pending() {
			r.err = errors.New("KeyUpdate still pending after Seal")
			return r
		}
		pending = pending[:copy(pending, pending[consumed:])]
		switch {
		case oerr == io.EOF:
			out, _ = rec.SealClose(out)
			raw.Write(out)
			return r
		case oerr != nil:
			raw.Write(rec.SealError(out, oerr))
			r.err = oerr
			return r
		case serr != nil:
			r.err = serr
			return r
		}
		if len(out) > 0 {
			if _, err := raw.Write(out); err != nil {
				r.err = err
				return r
			}
		}
		if rerr != nil {
			r.err = rerr
			return r
		}
	}
}

// listen opens a loopback listener closed with the test.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
