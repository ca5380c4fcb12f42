package server

import (
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/wsedge/wsedge/proxy"
	"github.com/wsedge/wsedge/routing"
)

// authJob is one identity check of a connection, from the loop to a checking
// goroutine and back.
type authJob struct {
	w      *wsConn
	sess   *routing.Session // connect: the session, captured on the loop
	via    via
	token  string
	resp   []byte      // the 101 answer held until the identity is known
	client netip.Addr  // the client the session is opened for
	kept   http.Header // Options.KeepHeaders found in the request
	head   []byte      // Authenticator: the request head, copied
	preq   *proxy.ConnectRequest
	id     []byte    // connect: the message's id token, copied
	until  time.Time // the handshake deadline (zero: none)

	ident  Identity
	err    error
	opened chan struct{} // closed by the loop once the session exists (channels to subscribe)

	// A token check at the upgrade comes from jobPool and goes back to it
	// once answered: buf holds its token and its 101 answer, and the
	// method values it hands to the pool and the loop are made once. A
	// ramp of token connections otherwise leaves this much garbage per
	// connection among the long-lived objects (docs/design.md, issue 19).
	buf                []byte
	pooled             bool
	runF, upgradeDoneF func()
}

// jobPool recycles the authJobs of token checks at the upgrade.
var jobPool sync.Pool

// maxPooledBuf bounds the buffer a pooled job keeps (a token is at most
// -jwt-max-size, 8 KiB by default; most are a few hundred bytes).
const maxPooledBuf = 2048

func newTokenJob() *authJob {
	j, _ := jobPool.Get().(*authJob)
	if j == nil {
		j = &authJob{}
		j.runF, j.upgradeDoneF = j.run, j.upgradeDone
	}
	j.pooled = true
	return j
}

// recycle gives a pooled job back once nothing refers to it. Loop.
func (j *authJob) recycle() {
	if !j.pooled {
		return
	}
	buf, run, done := j.buf[:0], j.runF, j.upgradeDoneF
	if cap(buf) > maxPooledBuf {
		buf = nil
	}
	*j = authJob{buf: buf, runF: run, upgradeDoneF: done}
	jobPool.Put(j)
}
