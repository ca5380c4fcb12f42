// Command gnet is the panjf2000/gnet/v2 peer echo server for wsbench compare:
// gnet's event loops own the sockets; gobwas/ws does the upgrade and the
// frame headers. Frames are echoed one by one (opcode and FIN kept), so
// fragmented messages come back fragmented.
package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
)

// maxHeader bounds an HTTP upgrade request; a client sending more is dropped.
const maxHeader = 8 << 10

type server struct {
	gnet.BuiltinEventEngine
	path string
}

// wsConn is the per-connection context: only whether the upgrade is done.
type wsConn struct{ upgraded bool }

func (s *server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&wsConn{})
	return nil, gnet.None
}

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	st := c.Context().(*wsConn)
	if !st.upgraded {
		buf, _ := c.Peek(-1)
		end := bytes.Index(buf, []byte("\r\n\r\n"))
		if end < 0 {
			if len(buf) > maxHeader {
				return gnet.Close
			}
			return gnet.None
		}
		req := buf[:end+4]
		u := ws.Upgrader{OnRequest: func(uri []byte) error {
			if i := bytes.IndexByte(uri, '?'); i >= 0 {
				uri = uri[:i]
			}
			if string(uri) != s.path {
				return ws.RejectConnectionError(ws.RejectionStatus(404))
			}
			return nil
		}}
		if _, err := u.Upgrade(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(req), c}); err != nil {
			return gnet.Close
		}
		_, _ = c.Discard(len(req))
		st.upgraded = true
	}
	for {
		buf, _ := c.Peek(-1)
		if len(buf) < 2 {
			return gnet.None
		}
		h, err := ws.ReadHeader(bytes.NewReader(buf))
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return gnet.None
		}
		if err != nil || !h.Masked {
			return gnet.Close
		}
		hl := ws.HeaderSize(h)
		total := int64(hl) + h.Length
		if int64(len(buf)) < total {
			return gnet.None // wait for the rest of the frame
		}
		payload := buf[hl:total]
		ws.Cipher(payload, h.Mask, 0)
		switch h.OpCode {
		case ws.OpPong:
		case ws.OpPing:
			writeFrame(c, ws.OpPong, true, payload)
		case ws.OpClose:
			writeFrame(c, ws.OpClose, true, payload)
			_, _ = c.Discard(int(total))
			return gnet.Close
		default:
			writeFrame(c, h.OpCode, h.Fin, payload)
		}
		_, _ = c.Discard(int(total))
	}
}

// writeFrame sends an unmasked server frame as one writev: header, payload.
func writeFrame(c gnet.Conn, op ws.OpCode, fin bool, payload []byte) {
	var hb bytes.Buffer
	_ = ws.WriteHeader(&hb, ws.Header{Fin: fin, OpCode: op, Length: int64(len(payload))})
	_, _ = c.Writev([][]byte{hb.Bytes(), payload})
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	path := flag.String("echo-path", "/echo", "echo path")
	flag.Parse()
	err := gnet.Run(&server{path: *path}, "tcp://"+*addr, gnet.WithMulticore(true))
	log.Fatal(err)
}
