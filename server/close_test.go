package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/internal/testcert"
)

// TestNoDataAfterCloseFrame races worker replies with the loop's close frame:
// each client pipelines more pings than -msg-rate allows, so workers are
// still answering the accepted ones when the loop closes the connection with
// 1008 after the tenth refusal. Whatever the interleaving, the byte stream
// must end with the close frame: nothing follows it (RFC 6455 5.5.1).
func TestNoDataAfterCloseFrame(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testNoDataAfterCloseFrame(t, false) })
	t.Run("tls", func(t *testing.T) { testNoDataAfterCloseFrame(t, true) })
}

func testNoDataAfterCloseFrame(t *testing.T, useTLS bool) {
	o := testOptions()
	o.MsgRate, o.MsgBurst = 1, 40
	var pool *x509.CertPool
	if useTLS {
		o.TLSCert, o.TLSKey, pool = testcert.Write(t, t.TempDir(), 1)
	}
	s := startServer(t, o)
	const clients, rounds = 40, 3
	var pings bytes.Buffer
	for i := 0; i < o.MsgBurst+12; i++ {
		pings.Write(msgFrame(codec.OpText, true, fmt.Sprintf(`{"type":"ping","id":"%d"}`, i)))
	}
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i := 0; i < clients; i++ {
			var c net.Conn = rawDial(t, s)
			if useTLS {
				c = tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.WriteString(c, upgradeRequest("/ws", ""))
				br := bufio.NewReader(c)
				if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
					errs <- fmt.Errorf("upgrade: %v", err)
					return
				}
				c.Write(pings.Bytes())
				r := &rawClient{t: t, conn: c, br: br}
				var kinds []string
				for {
					f, err := r.next()
					if err != nil {
						if len(kinds) == 0 || kinds[len(kinds)-1] != "close" {
							errs <- fmt.Errorf("stream ended (%v) without a close frame last: %s", err, strings.Join(kinds, " "))
						}
						return
					}
					if len(kinds) > 0 && kinds[len(kinds)-1] == "close" {
						errs <- fmt.Errorf("%s %q after the close frame", f.op, f.payload)
						return
					}
					if f.op == codec.OpClose {
						kinds = append(kinds, "close")
					} else {
						kinds = append(kinds, "msg")
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
