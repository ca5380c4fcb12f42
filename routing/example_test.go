package routing_test

import (
	"fmt"
	"net/netip"
	"sync"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

// printConn prints every reply; done is signalled once per reply.
type printConn struct{ done *sync.WaitGroup }

func (p printConn) Send(b []byte) error {
	fmt.Println(string(b))
	p.done.Done()
	return nil
}
func (p printConn) SendPrepared(*codec.Prepared) error { return nil }
func (p printConn) Flush() error                       { return nil }
func (p printConn) FlushSoon()                         {}
func (p printConn) Close(codec.CloseCode, string)      {}
func (p printConn) RemoteIP() netip.Addr               { return netip.MustParseAddr("203.0.113.9") }

func ExampleRouter_Handle() {
	r := routing.New(routing.Options{Workers: 1, Queue: 4096})
	defer r.Close()
	r.Use(routing.DefaultMiddleware(zap.NewNop())...)
	routing.RegisterBuiltins(r)

	r.Handle("shout", func(c *routing.Context) error {
		if len(c.Data()) == 0 {
			return routing.NewError(routing.CodeInvalidMessage, "data is required")
		}
		return c.Reply("shouted", c.Data())
	})

	var done sync.WaitGroup
	done.Add(3)
	s := r.Open(printConn{&done})
	r.Dispatch(s, codec.OpText, []byte(`{"type":"shout","id":"1","data":"hi"}`))
	r.Dispatch(s, codec.OpText, []byte(`{"type":"shout","id":"2"}`))
	r.Dispatch(s, codec.OpText, []byte(`{"type":"ping","id":"3"}`))
	done.Wait()
	// Output:
	// {"type":"shouted","id":"1","data":"hi"}
	// {"type":"error","id":"2","error":{"code":"INVALID_MESSAGE","message":"data is required"}}
	// {"type":"pong","id":"3"}
}
